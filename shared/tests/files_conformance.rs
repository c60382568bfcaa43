//! One conformance suite for the file backends, over the public interface: [`Files`] (records,
//! limits, quotas) on a [`FileBackend`], uploads sent by a real multipart client (reqwest) to
//! the presigned POST, downloads through the presigned GET.
//!
//! Each case takes a [`Harness`]; `conformance!` instantiates the cases per backend: the local
//! backend, and the S3 backend on moto's S3 (`moto_server`, path-style on loopback). moto
//! checks no POST policy (neither expiry, type nor length range: `tests/s3_backend.rs` records
//! what it does instead), so the two cases of refused uploads run on the local backend only;
//! on S3 the HEAD check (`objects_breaking_their_record_are_deleted`) is what catches them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::Duration;

use miniapp_shared::credentials::TokenKeys;
#[cfg(feature = "files-s3")]
use miniapp_shared::files::s3::S3Backend;
use miniapp_shared::files::{
    FileBackend, FileLimits, Files, FilesError, LocalBackend, UploadPolicy, LOCAL_SIGNING_LABEL,
};
use miniapp_shared::ids::UserId;
use miniapp_shared::store::{FileStatus, Store, StoreConfig, StoreKind};
use test_support::fixtures::CURSOR_KEY;
use tokio::net::TcpListener;

/// 32 bytes of key, base64.
const TOKEN_KEYS: &str = "t1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
/// The smallest valid PNG (1×1, transparent).
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0d, 0x0a, 0x2d, 0xb4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae,
    0x42, 0x60, 0x82,
];

fn user(s: &str) -> UserId {
    UserId::parse(s).unwrap()
}

/// Writes an object directly: key, bytes, content type.
type PutRaw = Box<dyn Fn(&str, &[u8], &str) + Send + Sync>;

/// A backend under test, with a store for the records and the way to put an object behind the
/// policy's back (to test what a HEAD catches).
struct Harness {
    files: Files,
    store: Store,
    http: reqwest::Client,
    /// Writes an object directly (local: the file; S3: a plain PutObject).
    put_raw: PutRaw,
    _dir: tempfile::TempDir,
}

async fn serve_local(local: LocalBackend, listener: TcpListener) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let local = local.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| {
                let local = local.clone();
                async move { Ok::<_, std::convert::Infallible>(local.serve(req).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                .await;
        });
    }
}

impl Harness {
    async fn local(limits: FileLimits) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let keys = TokenKeys::parse(TOKEN_KEYS).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let root = dir.path().join("files");
        let local = LocalBackend::new(
            root.clone(),
            &keys.derive_key(LOCAL_SIGNING_LABEL),
            Some(format!("http://{addr}")),
            limits.max_bytes,
        );
        tokio::spawn(serve_local(local.clone(), listener));
        let store = Store::open(&StoreConfig {
            kind: StoreKind::Embedded(dir.path().join("data.db")),
            cursor_key: miniapp_shared::secret::SecretBytes::new(CURSOR_KEY.to_vec()).into(),
        })
        .await
        .unwrap();
        let put_raw = Box::new(move |key: &str, bytes: &[u8], content_type: &str| {
            let path = root.join(key);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, bytes).unwrap();
            std::fs::write(format!("{}.content-type", path.display()), content_type).unwrap();
        });
        Self {
            files: Files::new(FileBackend::Local(local), &keys, limits),
            store,
            http: reqwest::Client::new(),
            put_raw,
            _dir: dir,
        }
    }

    /// The S3 backend on a fresh bucket of this binary's moto server.
    #[cfg(feature = "files-s3")]
    async fn s3(limits: FileLimits) -> Self {
        use aws_config::{BehaviorVersion, Region, SdkConfig};
        use aws_sdk_s3::config::{Credentials, SharedCredentialsProvider};
        static MOTO: std::sync::OnceLock<test_support::moto::MotoServer> =
            std::sync::OnceLock::new();
        static BUCKETS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let moto = MOTO.get_or_init(test_support::moto::MotoServer::start);
        let sdk = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(moto.endpoint())
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                "AKIDTEST",
                "secret",
                None,
                None,
                "files-tests",
            )))
            .build();
        let admin = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&sdk)
                .force_path_style(true)
                .build(),
        );
        let n = BUCKETS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let bucket = format!("files-{}-{n}", std::process::id());
        admin.create_bucket().bucket(&bucket).send().await.unwrap();
        let backend = S3Backend::from_sdk_config(&sdk, bucket.clone(), true).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let keys = TokenKeys::parse(TOKEN_KEYS).unwrap();
        let store = Store::open(&StoreConfig {
            kind: StoreKind::Embedded(dir.path().join("data.db")),
            cursor_key: miniapp_shared::secret::SecretBytes::new(CURSOR_KEY.to_vec()).into(),
        })
        .await
        .unwrap();
        let put_raw = Box::new(move |key: &str, bytes: &[u8], content_type: &str| {
            let put = admin
                .put_object()
                .bucket(&bucket)
                .key(key)
                .content_type(content_type)
                .body(bytes.to_vec().into());
            tokio::task::block_in_place(|| {
                let sent = tokio::runtime::Handle::current().block_on(put.send());
                sent.expect("put_object");
            });
        });
        Self {
            files: Files::new(FileBackend::S3(std::sync::Arc::new(backend)), &keys, limits),
            store,
            http: reqwest::Client::new(),
            put_raw,
            _dir: dir,
        }
    }

    /// Announces a file and returns its id and upload form.
    async fn create(
        &self,
        who: &str,
        name: &str,
        ctype: &str,
        size: u64,
    ) -> Result<miniapp_shared::files::CreatedFile, FilesError> {
        self.files
            .create(
                &self.store,
                &user(who),
                miniapp_shared::files::NewFile {
                    name: name.into(),
                    content_type: ctype.into(),
                    size,
                },
            )
            .await
    }

    /// Sends the form with `fields` (possibly altered) and the file; status and body.
    async fn post(&self, url: &str, fields: &[(String, String)], bytes: &[u8]) -> (u16, String) {
        let mut form = reqwest::multipart::Form::new();
        for (k, v) in fields {
            form = form.text(k.clone(), v.clone());
        }
        let part = reqwest::multipart::Part::bytes(bytes.to_vec()).file_name("upload.bin");
        form = form.part("file", part);
        let resp = self.http.post(url).multipart(form).send().await.unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    }

    async fn upload(&self, c: &miniapp_shared::files::CreatedFile, bytes: &[u8]) -> (u16, String) {
        self.post(&c.upload.url, &c.upload.fields, bytes).await
    }

    async fn get(
        &self,
        who: &str,
        c: &miniapp_shared::files::CreatedFile,
    ) -> Result<miniapp_shared::files::FileView, FilesError> {
        self.files.get(&self.store, &user(who), &c.record.id).await
    }
}

fn code_of(xml: &str) -> &str {
    xml.split("<Code>")
        .nth(1)
        .and_then(|r| r.split("</Code>").next())
        .unwrap_or("")
}

mod cases {
    use super::*;

    pub(super) async fn upload_then_download(h: Harness) {
        let c = h
            .create("alice", "../My photo.png", "image/png", PNG.len() as u64)
            .await
            .unwrap();
        assert_eq!(c.upload.file_field, "file");
        let field_names: Vec<&str> = c.upload.fields.iter().map(|(k, _)| k.as_str()).collect();
        // Both backends pin the key and the type in the form (in their own order: S3's is
        // boto3's, `Content-Type` first).
        assert!(
            field_names.contains(&"key") && field_names.contains(&"Content-Type"),
            "{field_names:?}"
        );
        let pending = h.get("alice", &c).await.unwrap();
        assert_eq!(
            (pending.record.status, pending.url.as_deref()),
            (FileStatus::Pending, None)
        );
        let (status, body) = h.upload(&c, PNG).await;
        assert!((200..300).contains(&status), "{status} {body}");
        let ready = h.get("alice", &c).await.unwrap();
        assert_eq!(ready.record.status, FileStatus::Ready);
        assert_eq!(ready.record.name, "My photo.png");
        let resp = h.http.get(ready.url.unwrap()).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["content-type"], "image/png");
        let disposition = resp.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            disposition.contains("filename*=UTF-8''My%20photo.png"),
            "{disposition}"
        );
        assert_eq!(resp.bytes().await.unwrap().as_ref(), PNG);
    }

    pub(super) async fn presigned_put_uploads_too(h: Harness) {
        let c = h
            .create("alice", "notes.txt", "text/plain", 5)
            .await
            .unwrap();
        let mut req = h.http.put(&c.put.url).body("hello");
        for (k, v) in &c.put.headers {
            req = req.header(k, v);
        }
        let resp = req.send().await.unwrap();
        assert!(resp.status().is_success(), "{}", resp.status());
        let ready = h.get("alice", &c).await.unwrap();
        let got = h.http.get(ready.url.unwrap()).send().await.unwrap();
        assert_eq!(got.text().await.unwrap(), "hello");
    }

    pub(super) async fn expired_policies_are_refused(h: Harness) {
        let c = h.create("alice", "a.png", "image/png", 100).await.unwrap();
        let past = UploadPolicy {
            key: h.files.object_key(&user("alice"), &c.record.id),
            content_type: "image/png".into(),
            max_size: 100,
            expires_at: time::OffsetDateTime::now_utc() - Duration::from_secs(1),
        };
        let form = h
            .files
            .backend()
            .presign_post(&past, time::OffsetDateTime::now_utc())
            .await
            .unwrap();
        let (status, body) = h.post(&form.url, &form.fields, PNG).await;
        assert_eq!((status, code_of(&body)), (403, "AccessDenied"), "{body}");
        assert_eq!(
            h.get("alice", &c).await.unwrap().record.status,
            FileStatus::Pending
        );
    }

    pub(super) async fn wrong_type_oversize_and_tampering_are_refused(h: Harness) {
        let c = h.create("alice", "a.png", "image/png", 10).await.unwrap();
        let mut fields = c.upload.fields.clone();
        fields[1].1 = "text/html".into();
        let (status, body) = h.post(&c.upload.url, &fields, b"<b>x</b>").await;
        assert_eq!((status, code_of(&body)), (403, "AccessDenied"), "{body}");
        // Larger than declared.
        let (status, body) = h.upload(&c, &[0u8; 11]).await;
        assert_eq!((status, code_of(&body)), (400, "EntityTooLarge"), "{body}");
        // Another key with this policy.
        let mut fields = c.upload.fields.clone();
        fields[0].1 = fields[0]
            .1
            .replace(c.record.id.as_str(), "0191d4a2-0000-7000-8000-000000000000");
        let (status, _) = h.post(&c.upload.url, &fields, b"x").await;
        assert_eq!(status, 403);
        // An altered policy.
        let mut fields = c.upload.fields.clone();
        fields[2].1.insert(0, 'e');
        let (status, _) = h.post(&c.upload.url, &fields, b"x").await;
        assert_eq!(status, 403);
        assert_eq!(
            h.get("alice", &c).await.unwrap().record.status,
            FileStatus::Pending
        );
        // Refused before any URL is signed.
        assert!(matches!(
            h.create("alice", "a.html", "text/html", 1).await,
            Err(FilesError::TypeNotAllowed(_))
        ));
        let max = h.files.limits().max_bytes;
        assert!(matches!(
            h.create("alice", "big.mp4", "video/mp4", max + 1).await,
            Err(FilesError::TooLarge { .. })
        ));
        assert!(matches!(
            h.create("alice", "empty.txt", "text/plain", 0).await,
            Err(FilesError::TooLarge { .. })
        ));
    }

    pub(super) async fn objects_breaking_their_record_are_deleted(h: Harness) {
        let c = h.create("alice", "a.png", "image/png", 4).await.unwrap();
        let key = h.files.object_key(&user("alice"), &c.record.id);
        (h.put_raw)(key.as_str(), b"12345", "image/png");
        assert!(matches!(
            h.get("alice", &c).await,
            Err(FilesError::Rejected(_))
        ));
        assert_eq!(h.files.backend().head(&key).await.unwrap(), None);
        assert!(matches!(
            h.get("alice", &c).await,
            Err(FilesError::NotFound)
        ));
        let c = h.create("alice", "b.png", "image/png", 4).await.unwrap();
        let key = h.files.object_key(&user("alice"), &c.record.id);
        (h.put_raw)(key.as_str(), b"1234", "text/html");
        assert!(matches!(
            h.get("alice", &c).await,
            Err(FilesError::Rejected(_))
        ));
    }

    pub(super) async fn users_are_isolated(h: Harness) {
        let c = h
            .create("alice", "a.png", "image/png", PNG.len() as u64)
            .await
            .unwrap();
        h.upload(&c, PNG).await;
        assert!(matches!(h.get("bob", &c).await, Err(FilesError::NotFound)));
        assert!(matches!(
            h.files.delete(&h.store, &user("bob"), &c.record.id).await,
            Err(FilesError::NotFound)
        ));
        let (bobs, _) = h
            .files
            .list(&h.store, &user("bob"), 10, None)
            .await
            .unwrap();
        assert!(bobs.is_empty());
        let (alices, _) = h
            .files
            .list(&h.store, &user("alice"), 10, None)
            .await
            .unwrap();
        assert_eq!(alices.len(), 1);
        assert_ne!(
            h.files.object_key(&user("alice"), &c.record.id),
            h.files.object_key(&user("bob"), &c.record.id)
        );
        // Still there for its owner.
        assert_eq!(
            h.get("alice", &c).await.unwrap().record.status,
            FileStatus::Ready
        );
    }

    pub(super) async fn delete_removes_the_object(h: Harness) {
        let c = h
            .create("alice", "a.png", "image/png", PNG.len() as u64)
            .await
            .unwrap();
        h.upload(&c, PNG).await;
        let url = h.get("alice", &c).await.unwrap().url.unwrap();
        h.files
            .delete(&h.store, &user("alice"), &c.record.id)
            .await
            .unwrap();
        let key = h.files.object_key(&user("alice"), &c.record.id);
        assert_eq!(h.files.backend().head(&key).await.unwrap(), None);
        // 404 (S3 answers 403 for a missing key to a reader without s3:ListBucket, and moto to
        // any presigned GET with response-* parameters).
        let status = h.http.get(url).send().await.unwrap().status().as_u16();
        match h.files.backend() {
            FileBackend::Local(_) => assert_eq!(status, 404),
            #[cfg(feature = "files-s3")]
            FileBackend::S3(_) => assert!(status == 404 || status == 403, "{status}"),
        }
        assert!(matches!(
            h.get("alice", &c).await,
            Err(FilesError::NotFound)
        ));
        assert!(matches!(
            h.files.delete(&h.store, &user("alice"), &c.record.id).await,
            Err(FilesError::NotFound)
        ));
    }

    pub(super) async fn listing_pages_with_cursors(h: Harness) {
        let mut ids = Vec::new();
        for i in 0..5 {
            ids.push(
                h.create("alice", &format!("{i}.txt"), "text/plain", 1)
                    .await
                    .unwrap()
                    .record
                    .id,
            );
        }
        let (mut seen, mut cursor) = (Vec::new(), None::<String>);
        loop {
            let (page, next) = h
                .files
                .list(&h.store, &user("alice"), 2, cursor.as_deref())
                .await
                .unwrap();
            seen.extend(page.into_iter().map(|v| v.record.id));
            match next {
                Some(n) => cursor = Some(n),
                None => break,
            }
        }
        assert_eq!(seen, ids);
        let (_, next) = h
            .files
            .list(&h.store, &user("alice"), 2, None)
            .await
            .unwrap();
        // A cursor is bound to its user.
        assert!(h
            .files
            .list(&h.store, &user("bob"), 2, next.as_deref())
            .await
            .is_err());
    }

    pub(super) async fn delete_all_is_resumable(h: Harness) {
        for i in 0..5 {
            let c = h
                .create("alice", &format!("{i}.png"), "image/png", PNG.len() as u64)
                .await
                .unwrap();
            h.upload(&c, PNG).await;
        }
        h.create("bob", "b.txt", "text/plain", 1).await.unwrap();
        let first = h
            .files
            .delete_all(&h.store, &user("alice"), 3)
            .await
            .unwrap();
        assert_eq!((first.deleted, first.done), (3, false));
        let second = h
            .files
            .delete_all(&h.store, &user("alice"), 3)
            .await
            .unwrap();
        assert_eq!((second.deleted, second.done), (2, true));
        let (left, _) = h
            .files
            .list(&h.store, &user("alice"), 10, None)
            .await
            .unwrap();
        assert!(left.is_empty());
        let (bobs, _) = h
            .files
            .list(&h.store, &user("bob"), 10, None)
            .await
            .unwrap();
        assert_eq!(bobs.len(), 1);
    }
}

/// Quotas need their own limits.
mod quota {
    use super::*;

    fn limits(vars: &'static [(&'static str, &'static str)]) -> FileLimits {
        FileLimits::from_env(&|k: &str| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        })
        .unwrap()
    }

    #[tokio::test]
    async fn count_and_bytes_quotas_are_enforced_and_freed() {
        let h = Harness::local(limits(&[
            ("MINIAPP_FILES_QUOTA_COUNT", "2"),
            ("MINIAPP_FILES_QUOTA_BYTES", "100"),
        ]))
        .await;
        let a = h.create("alice", "a.txt", "text/plain", 10).await.unwrap();
        h.create("alice", "b.txt", "text/plain", 10).await.unwrap();
        assert!(matches!(
            h.create("alice", "c.txt", "text/plain", 10).await,
            Err(FilesError::Quota(_))
        ));
        // Per user.
        h.create("bob", "c.txt", "text/plain", 10).await.unwrap();
        h.files
            .delete(&h.store, &user("alice"), &a.record.id)
            .await
            .unwrap();
        assert!(matches!(
            h.create("alice", "big.txt", "text/plain", 91).await,
            Err(FilesError::Quota(_))
        ));
        h.create("alice", "fits.txt", "text/plain", 90)
            .await
            .unwrap();
    }
}

macro_rules! conformance {
    ($backend:ident: $($case:ident),* $(,)?) => {
        mod $backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let h = super::Harness::$backend(Default::default()).await;
                    super::cases::$case(h).await;
                }
            )*
        }
    };
}

conformance!(
    local: upload_then_download,
    presigned_put_uploads_too,
    expired_policies_are_refused,
    wrong_type_oversize_and_tampering_are_refused,
    objects_breaking_their_record_are_deleted,
    users_are_isolated,
    delete_removes_the_object,
    listing_pages_with_cursors,
    delete_all_is_resumable,
);

#[cfg(feature = "files-s3")]
conformance!(
    s3: upload_then_download,
    presigned_put_uploads_too,
    objects_breaking_their_record_are_deleted,
    users_are_isolated,
    delete_removes_the_object,
    listing_pages_with_cursors,
    delete_all_is_resumable,
);
