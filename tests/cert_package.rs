//! Certificate mode as deployed: the three certificates (about 8 KB) do not fit in Lambda's
//! 4 KB of environment, so `make build-SessionFunction` packages `alipay-certs/*.crt` and the
//! template names them by relative path. Here the Makefile's own packaging step fills a
//! package folder, and the session function finds the files there, through `LAMBDA_TASK_ROOT`
//! (Lambda) or its working directory (Function Compute), and logs in against the stand-in
//! gateway in certificate mode.

use std::path::Path;
use std::process::Command;

use integration_tests::functions::{
    function_env, start_cert_gateway, use_certificate_mode, Client, HttpFunction, StoreMode,
};
use miniapp_shared::alipay::synthetic;
use test_support::workspace_root;

/// The certificate files as Alipay's console names them.
const FILES: [(&str, &str); 3] = [
    ("appCertPublicKey_2021000000000001.crt", synthetic::APP_CERT),
    ("alipayCertPublicKey_RSA2.crt", synthetic::ALIPAY_CERT),
    ("alipayRootCert.crt", synthetic::ROOT_CERT),
];

/// `make package-alipay-certs`, the step `build-SessionFunction` runs after the binary.
fn package(certs: &Path, artifacts: &Path) -> String {
    let out = Command::new("make")
        .current_dir(workspace_root())
        .arg("--no-print-directory")
        .arg("package-alipay-certs")
        .arg(format!("ALIPAY_CERTS_DIR={}", certs.display()))
        .arg(format!("ARTIFACTS_DIR={}", artifacts.display()))
        .output()
        .unwrap_or_else(|e| panic!("make: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "make package-alipay-certs: {text}");
    text
}

/// The function's environment with each certificate given as `alipay-certs/<file>`.
fn packaged_env(gateway_url: &str, db: &Path) -> Vec<(String, String)> {
    let mut env = function_env(gateway_url, &StoreMode::Embedded(db.to_path_buf()));
    use_certificate_mode(&mut env);
    env.retain(|(k, _)| !k.ends_with("_CERT"));
    let names = ["ALIPAY_APP_CERT", "ALIPAY_PUBLIC_CERT", "ALIPAY_ROOT_CERT"];
    for (var, (file, _)) in names.into_iter().zip(FILES) {
        env.push((var.into(), format!("alipay-certs/{file}")));
    }
    env
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn packaged_certificates_are_found_and_log_in() {
    let dir = tempfile::tempdir().expect("tempdir");
    let certs = dir.path().join("certs");
    std::fs::create_dir(&certs).expect("mkdir");
    for (file, text) in FILES {
        std::fs::write(certs.join(file), text).expect("write certificate");
    }
    std::fs::write(certs.join("README.md"), "not a certificate").expect("write");
    let artifacts = dir.path().join("package");
    package(&certs, &artifacts);
    let mut packaged: Vec<String> = std::fs::read_dir(artifacts.join("alipay-certs"))
        .expect("the package has alipay-certs/")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    packaged.sort();
    let mut expected: Vec<String> = FILES.iter().map(|(f, _)| f.to_string()).collect();
    expected.sort();
    assert_eq!(packaged, expected, "only the .crt files are packaged");

    let gateway = start_cert_gateway().await;
    // Lambda: the package root is LAMBDA_TASK_ROOT; the working directory is elsewhere.
    let mut env = packaged_env(&gateway.url(), &dir.path().join("lambda.db"));
    env.push(("LAMBDA_TASK_ROOT".into(), artifacts.display().to_string()));
    let session = HttpFunction::spawn("session", &env).await;
    let client = Client::new(&session.url, &session.url);
    let alice = client.login("dev-alice").await;
    assert_eq!(alice.user_id, "dev-openid-alice");
    assert_eq!(gateway.verified_requests(), 1, "a certificate-mode request");
    drop(session);

    // Function Compute: no LAMBDA_TASK_ROOT, the working directory is the code folder.
    let env = packaged_env(&gateway.url(), &dir.path().join("fc.db"));
    let session = HttpFunction::spawn_in("session", &env, &artifacts).await;
    let client = Client::new(&session.url, &session.url);
    client.login("dev-alice").await;
    assert_eq!(gateway.verified_requests(), 2);
}

#[test]
fn without_certificates_nothing_is_packaged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let artifacts = dir.path().join("package");
    package(&dir.path().join("absent"), &artifacts);
    assert!(!artifacts.join("alipay-certs").exists());
}

/// `sam build` runs `make build-SessionFunction`: that target must package the certificates
/// (a dry run: `-n` prints the binary's build and runs the sub-make's own dry run).
#[test]
fn building_the_session_function_packages_the_certificates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new("make")
        .current_dir(workspace_root())
        .args(["-n", "--no-print-directory", "build-SessionFunction"])
        .arg(format!("ARTIFACTS_DIR={}", dir.path().display()))
        .output()
        .unwrap_or_else(|e| panic!("make: {e}"));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("/alipay-certs/"), "{text}");
}
