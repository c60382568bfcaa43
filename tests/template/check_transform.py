"""Transforms template.yaml offline with aws-sam-translator and checks the result against
expected.json: routes, payload format, throttling, tables, runtime, IAM, environment, logs.

Usage: check_transform.py [TEMPLATE [EXPECTED]]  (defaults: the repository's files).
Prints one line per check and a closing "N passed, N failed"; exits 1 when any failed.
Needs no AWS credentials and no network.
"""

import copy
import json
import os
import sys
import tomllib
from pathlib import Path

# Before boto3 is imported: the translator asks a boto3 session for the region only.
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"

from samtranslator.translator.transform import transform  # noqa: E402
from samtranslator.yaml_helper import yaml_parse  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent

BASIC_EXECUTION_ROLE = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"

# Deploy-time values of the parameters without a usable default (the real ones are secrets).
PARAMETER_VALUES = {
    "AlipayAppId": "2021000000000000",
    "AlipayAppPrivateKey": "private-key-body",
    "AlipayPublicKey": "public-key-body",
    "TokenKeys": "k1:" + "A" * 44,
}


class ManagedPolicyStub:
    """Stands in for the IAM lookup that `sam deploy` makes: SAM adds this one policy itself."""

    def load(self):
        return {"AWSLambdaBasicExecutionRole": BASIC_EXECUTION_ROLE}


class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, name, ok, detail=""):
        if ok:
            self.passed += 1
            print(f"ok    {name}")
        else:
            self.failed += 1
            print(f"FAIL  {name}" + (f": {detail}" if detail else ""))
        return ok

    def equal(self, name, actual, expected):
        return self.check(name, actual == expected, f"got {actual!r}, expected {expected!r}")


def resources_of_type(template, type_name):
    return {k: v for k, v in template["Resources"].items() if v["Type"] == type_name}


def as_list(value):
    return value if isinstance(value, list) else [value]


def routes_of(api):
    """(route key, function logical id, payload format) for each operation of an HTTP API body."""
    out = []
    for path, operations in api["Properties"]["Body"]["paths"].items():
        for method, operation in operations.items():
            integration = operation.get("x-amazon-apigateway-integration")
            if integration is None:
                continue
            verb = "ANY" if method == "x-amazon-apigateway-any-method" else method.upper()
            # SAM writes the `$default` route (an event without Method and Path) as this path.
            key = "$default" if (verb, path) == ("ANY", "/$default") else f"{verb} {path}"
            out.append((key, target_of(integration), integration.get("payloadFormatVersion")))
    return out


def target_of(integration):
    """The function logical id in ".../functions/${SessionFunction.Arn}/invocations"."""
    uri = integration.get("uri", {}).get("Fn::Sub", "")
    return uri.split("functions/${", 1)[-1].split(".Arn}", 1)[0] if "${" in uri else uri


def policy_grants(role):
    """Set of (action, resource) pairs an IAM role's inline policies allow, plus problems."""
    grants, problems = set(), []
    for policy in role["Properties"].get("Policies", []):
        for statement in as_list(policy["PolicyDocument"]["Statement"]):
            keys = set(statement) - {"Sid", "Effect", "Action", "Resource", "Condition"}
            if keys:
                problems.append(f"{policy['PolicyName']}: unexpected {sorted(keys)}")
            suffix, problem = leading_keys(statement.get("Condition"))
            if problem:
                problems.append(f"{policy['PolicyName']}: {problem}")
            if statement.get("Effect") != "Allow":
                problems.append(f"{policy['PolicyName']}: Effect {statement.get('Effect')!r}")
            for resource in as_list(statement.get("Resource")):
                target = resource_target(resource)
                if target is None:
                    problems.append(f"{policy['PolicyName']}: resource {resource!r} is not a table or bucket ARN")
                    continue
                for action in as_list(statement.get("Action")):
                    grants.add((action + suffix, target))
    return grants, problems


def resource_target(resource):
    """`!GetAtt X.Arn` is "X"; `!Sub "${X.Arn}/<rest>"` is "X/<rest>": objects of a bucket
    ("FilesBucket/users/*") or an index of a table ("SessionsTable/index/byUser")."""
    if not isinstance(resource, dict):
        return None
    getatt = resource.get("Fn::GetAtt")
    if isinstance(getatt, list) and len(getatt) == 2 and getatt[1] == "Arn":
        return getatt[0]
    sub = resource.get("Fn::Sub")
    if isinstance(sub, str) and sub.startswith("${") and ".Arn}/" in sub:
        name, rest = sub[2:].split(".Arn}/", 1)
        return f"{name}/{rest}"
    return None


def leading_keys(condition):
    """A grant limited to items whose partition key matches patterns reads
    "<action> [leading keys <patterns>]", one limited to some attributes
    "<action> [attributes <names>]"; any other condition is a problem."""
    if condition is None:
        return "", None
    equals = condition.get("ForAllValues:StringEquals", {}) if isinstance(condition, dict) else {}
    if set(condition) == {"ForAllValues:StringEquals"} and set(equals) == {"dynamodb:Attributes"}:
        return f" [attributes {' '.join(as_list(equals['dynamodb:Attributes']))}]", None
    s3_like = condition.get("StringLike", {}) if isinstance(condition, dict) else {}
    if set(condition) == {"StringLike"} and set(s3_like) == {"s3:prefix"}:
        return f" [prefix {' '.join(as_list(s3_like['s3:prefix']))}]", None
    like = condition.get("ForAllValues:StringLike", {}) if isinstance(condition, dict) else {}
    patterns = like.get("dynamodb:LeadingKeys") if isinstance(like, dict) else None
    if set(condition) != {"ForAllValues:StringLike"} or set(like) != {"dynamodb:LeadingKeys"}:
        return "", f"unexpected condition {condition!r}"
    return f" [leading keys {' '.join(as_list(patterns))}]", None


def cargo_binaries():
    """Names of the binaries the workspace builds (what Metadata.BuildProperties.Binary names)."""
    root = tomllib.loads((ROOT / "Cargo.toml").read_text())
    names = set()
    for member in root["workspace"]["members"]:
        manifest = tomllib.loads((ROOT / member / "Cargo.toml").read_text())
        names.update(b["name"] for b in manifest.get("bin", []))
        if (ROOT / member / "src" / "main.rs").exists():
            names.add(manifest["package"]["name"])
    return names


def main():
    template_path = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "template.yaml"
    expected_path = Path(sys.argv[2]) if len(sys.argv) > 2 else HERE / "expected.json"
    expected = json.loads(expected_path.read_text())
    source = yaml_parse(template_path.read_text())
    c = Checks()

    # --- The template as written (what `miniapp dev` and `sam build` read). ---
    params = source.get("Parameters", {})
    for name, default in expected["parameter_defaults"].items():
        c.equal(f"parameter {name} default", str(params.get(name, {}).get("Default")), str(default))
    for name in expected["secret_parameters"]:
        c.check(f"parameter {name} is NoEcho", params.get(name, {}).get("NoEcho") in (True, "true"))
    noecho = {n for n, p in params.items() if p.get("NoEcho") in (True, "true")}
    c.equal("NoEcho parameters", sorted(noecho), sorted(expected["secret_parameters"]))

    binaries = cargo_binaries()
    functions_src = resources_of_type(source, "AWS::Serverless::Function")
    c.equal("serverless functions", sorted(functions_src), sorted(expected["functions"]))
    for name, want in expected["functions"].items():
        fn = functions_src.get(name, {})
        meta = fn.get("Metadata", {})
        c.equal(f"{name} BuildMethod", meta.get("BuildMethod"), "makefile")
        binary = meta.get("BuildProperties", {}).get("Binary")
        c.equal(f"{name} BuildProperties.Binary", binary, want["binary"])
        c.check(f"{name} binary is a cargo binary", binary in binaries, f"{binary!r} not in {sorted(binaries)}")
        c.equal(f"{name} CodeUri", fn.get("Properties", {}).get("CodeUri"), ".")

    # --- The transform, as CloudFormation would run it after `sam package`. ---
    packaged = copy.deepcopy(source)
    for fn in resources_of_type(packaged, "AWS::Serverless::Function").values():
        fn["Properties"]["CodeUri"] = "s3://bucket/key"
    out = transform(packaged, dict(PARAMETER_VALUES), ManagedPolicyStub())
    resources = out["Resources"]

    # Routes: exactly the contract's, each to its function, payload format 2.0.
    apis = resources_of_type(out, "AWS::ApiGatewayV2::Api")
    c.equal("one HTTP API", sorted(apis), ["HttpApi"])
    c.equal("no REST API", sorted(resources_of_type(out, "AWS::ApiGateway::RestApi")), [])
    routes = routes_of(apis["HttpApi"]) if "HttpApi" in apis else []
    want_routes = sorted(
        (route, fn) for fn, spec in expected["functions"].items() for route in spec["routes"]
    )
    c.equal("routes and their functions", sorted((r, f) for r, f, _ in routes), want_routes)
    c.check("payload format 2.0 on every route", routes and all(p == "2.0" for _, _, p in routes),
            repr(routes))
    permissions = resources_of_type(out, "AWS::Lambda::Permission")
    invoked = sorted(
        (p["Properties"]["FunctionName"].get("Ref"),
         p["Properties"]["SourceArn"]["Fn::Sub"][0].split("/${__Stage__}/", 1)[1])
        for p in permissions.values()
    )
    want_invoked = sorted(
        (fn, arn) for fn, spec in expected["functions"].items() for arn in spec["invoke_source_arns"]
    )
    c.equal("API Gateway may invoke exactly the routed functions", invoked, want_invoked)

    # Stage throttling from the parameters.
    stages = resources_of_type(out, "AWS::ApiGatewayV2::Stage")
    c.equal("one stage", len(stages), 1)
    for name, stage in stages.items():
        settings = stage["Properties"].get("DefaultRouteSettings", {})
        c.equal(f"{name} rate limit", settings.get("ThrottlingRateLimit"), {"Ref": "ThrottlingRateLimit"})
        c.equal(f"{name} burst limit", settings.get("ThrottlingBurstLimit"), {"Ref": "ThrottlingBurstLimit"})

    # Tables.
    tables = resources_of_type(out, "AWS::DynamoDB::Table")
    c.equal("tables", sorted(tables), sorted(expected["tables"]))
    for name, want in expected["tables"].items():
        props = tables.get(name, {}).get("Properties", {})
        c.equal(f"{name} billing", props.get("BillingMode"), "PAY_PER_REQUEST")
        c.equal(f"{name} point-in-time recovery", props.get("PointInTimeRecoverySpecification"),
                {"PointInTimeRecoveryEnabled": True})
        c.equal(f"{name} encryption", props.get("SSESpecification", {}).get("SSEEnabled"), True)
        c.equal(f"{name} deletion protection", props.get("DeletionProtectionEnabled"),
                {"Fn::If": ["DeletionProtectionOn", True, False]})
        types = {a["AttributeName"]: a["AttributeType"] for a in props.get("AttributeDefinitions", [])}
        keys = [[k["AttributeName"], k["KeyType"], types.get(k["AttributeName"])]
                for k in props.get("KeySchema", [])]
        c.equal(f"{name} keys", keys, want["keys"])
        c.equal(f"{name} has no local indexes", "LocalSecondaryIndexes" in props, False)
        indexes = [[i.get("IndexName"), [[k["AttributeName"], k["KeyType"], types.get(k["AttributeName"])]
                                         for k in i.get("KeySchema", [])],
                    i.get("Projection", {}).get("ProjectionType")]
                   for i in props.get("GlobalSecondaryIndexes", [])]
        c.equal(f"{name} global indexes", indexes, want.get("indexes", []))
        ttl = props.get("TimeToLiveSpecification")
        want_ttl = None if want["ttl"] is None else {"AttributeName": want["ttl"], "Enabled": True}
        c.equal(f"{name} TTL", ttl, want_ttl)
    c.equal("DeletionProtectionOn condition", out.get("Conditions", {}).get("DeletionProtectionOn"),
            {"Fn::Equals": [{"Ref": "DeletionProtection"}, "true"]})

    # Functions: runtime, environment, least-privilege role, log group.
    functions = resources_of_type(out, "AWS::Lambda::Function")
    c.equal("functions", sorted(functions), sorted(expected["functions"]))
    log_groups = resources_of_type(out, "AWS::Logs::LogGroup")
    for name, want in expected["functions"].items():
        props = functions.get(name, {}).get("Properties", {})
        c.equal(f"{name} runtime", props.get("Runtime"), expected["runtime"])
        c.equal(f"{name} handler", props.get("Handler"), expected["handler"])
        c.equal(f"{name} architectures", props.get("Architectures"), [{"Ref": "Architecture"}])
        c.equal(f"{name} memory", props.get("MemorySize"), expected["memory_size"])
        c.equal(f"{name} timeout", props.get("Timeout"), expected["timeout"])
        env = props.get("Environment", {}).get("Variables", {})
        c.equal(f"{name} environment variable names", sorted(env), sorted(want["environment"]))
        c.equal(f"{name} environment values", env, want["environment"])

        role_ref = props.get("Role", {}).get("Fn::GetAtt", [None])[0]
        role = resources.get(role_ref, {})
        c.equal(f"{name} role", role.get("Type"), "AWS::IAM::Role")
        role_props = role.get("Properties", {})
        c.equal(f"{name} managed policies", role_props.get("ManagedPolicyArns"), expected["managed_policies"])
        c.equal(f"{name} permissions boundary", role_props.get("PermissionsBoundary"), None)
        grants, problems = policy_grants(role)
        c.equal(f"{name} policy statements well-formed", problems, [])
        want_grants = {(a, t) for t, actions in want["permissions"].items() for a in actions}
        c.equal(f"{name} permissions (action, table)", sorted(grants), sorted(want_grants))

        group = log_groups.get(want["log_group"], {}).get("Properties", {})
        c.equal(f"{name} log group name", group.get("LogGroupName"), {"Fn::Sub": f"/aws/lambda/${{{name}}}"})
        c.equal(f"{name} log retention", group.get("RetentionInDays"), {"Ref": "LogRetentionDays"})

    other_roles = set(resources_of_type(out, "AWS::IAM::Role")) - {f"{n}Role" for n in expected["functions"]}
    c.equal("no other IAM roles", sorted(other_roles), [])
    c.equal("no other IAM policies", sorted(resources_of_type(out, "AWS::IAM::Policy")), [])
    for name, group in log_groups.items():
        c.equal(f"{name} retention", group["Properties"].get("RetentionInDays"), {"Ref": "LogRetentionDays"})

    # Buckets: private, encrypted, TLS only, abandoned uploads cleaned, CORS for web uploads.
    buckets = resources_of_type(out, "AWS::S3::Bucket")
    c.equal("buckets", sorted(buckets), sorted(expected["buckets"]))
    policies = resources_of_type(out, "AWS::S3::BucketPolicy")
    for name, want in expected["buckets"].items():
        bucket = buckets.get(name, {})
        props = bucket.get("Properties", {})
        c.equal(f"{name} kept on delete and replace",
                (bucket.get("DeletionPolicy"), bucket.get("UpdateReplacePolicy")), ("Retain", "Retain"))
        c.equal(f"{name} blocks public access", props.get("PublicAccessBlockConfiguration"),
                {k: True for k in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls",
                                   "RestrictPublicBuckets")})
        c.equal(f"{name} has no ACLs", props.get("OwnershipControls"),
                {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]})
        sse = props.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration", [{}])
        c.equal(f"{name} encryption", sse[0].get("ServerSideEncryptionByDefault", {}).get("SSEAlgorithm"),
                want["encryption"])
        rules = props.get("LifecycleConfiguration", {}).get("Rules", [])
        c.check(f"{name} aborts abandoned uploads", any(
            r.get("Status") == "Enabled"
            and r.get("AbortIncompleteMultipartUpload", {}).get("DaysAfterInitiation") == want["abort_uploads_after_days"]
            for r in rules), repr(rules))
        cors = props.get("CorsConfiguration", {}).get("CorsRules", [])
        c.equal(f"{name} CORS methods", sorted(m for r in cors for m in r.get("AllowedMethods", [])),
                sorted(want["cors_methods"]))
        c.equal(f"{name} CORS origins", [o for r in cors for o in r.get("AllowedOrigins", [])],
                want["cors_origins"])
        tls = [st for p in policies.values() if p["Properties"].get("Bucket") == {"Ref": name}
               for st in as_list(p["Properties"]["PolicyDocument"]["Statement"])
               if st.get("Effect") == "Deny"
               and st.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}]
        c.check(f"{name} refuses plain HTTP", len(tls) == 1 and tls[0].get("Action") == "s3:*"
                and tls[0].get("Principal") == "*", repr(tls))

    # Outputs.
    outputs = {k: v.get("Value") for k, v in out.get("Outputs", {}).items()}
    c.equal("outputs", outputs, expected["outputs"])

    print(f"{c.passed} passed, {c.failed} failed")
    return 1 if c.failed else 0


if __name__ == "__main__":
    sys.exit(main())
