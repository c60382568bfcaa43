"""Self-test of signing.py: every case of shared/tests/fixtures/signing/vectors.json (docs/api.md
§5.4's worked example among them) reproduces, and every invalid query is refused.

    python3 tests/schemathesis/test_signing.py
"""

from __future__ import annotations

import json
import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import signing  # noqa: E402

VECTORS = Path(__file__).resolve().parents[2] / "shared/tests/fixtures/signing/vectors.json"


class Vectors(unittest.TestCase):
    vectors = json.loads(VECTORS.read_text(encoding="utf-8"))

    def test_cases(self) -> None:
        self.assertGreaterEqual(len(self.vectors["cases"]), 3)
        for case in self.vectors["cases"]:
            with self.subTest(case["name"]):
                body = case["body"].encode("utf-8")
                self.assertEqual(signing.canonical_query(case["query"]), case["canonical_query"])
                to_sign = signing.string_to_sign(
                    case["date"], case["method"], case["path"], case["query"], body
                )
                self.assertEqual(to_sign, case["string_to_sign"])
                self.assertEqual(signing.signature(case["secret"], to_sign), case["signature"])
                headers = signing.signed_headers(
                    case["access_key_id"], case["secret"], "token", case["method"],
                    case["path"], case["query"], body, date=case["date"],
                )
                self.assertEqual(headers["Authorization"], case["authorization"])
                self.assertEqual(headers["x-miniapp-date"], case["date"])
                self.assertEqual(headers["x-miniapp-security-token"], "token")

    def test_invalid_queries(self) -> None:
        for case in self.vectors["invalid_queries"]:
            with self.subTest(case["query"]):
                with self.assertRaises(signing.InvalidQuery):
                    signing.canonical_query(case["query"])

    def test_date_format(self) -> None:
        self.assertEqual(signing.amz_date(1795617400), "20261125T143640Z")


if __name__ == "__main__":
    unittest.main()
