"""Query Blob (query acceleration) through azure-storage-blob's query_blob: a
SQL subset over CSV and JSON-lines blobs, answered in Azure's Avro framing,
with error records for rows that cannot be read and Azure-style errors for a
query that does not parse."""
import json
import random
import unittest

from azure.core.exceptions import HttpResponseError
from azure.storage.blob import DelimitedJsonDialect, DelimitedTextDialect

from azlite_harness import Azlite
from azure.storage.blob import BlobServiceClient

srv = None
svc = None


def setUpModule():
    global srv, svc
    srv = Azlite().start()
    svc = BlobServiceClient.from_connection_string(srv.env["AZURE_STORAGE_CONNECTION_STRING"])


def tearDownModule():
    srv.cleanup()


CSV = DelimitedTextDialect(delimiter=",", quotechar='"', lineterminator="\n", escapechar="",
                           has_header=True)


class QueryBlob(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ct = svc.create_container("query")

    def test_100k_row_csv_filter_matches_python(self):
        rnd = random.Random(7)
        rows = [(i, "n%d" % rnd.randrange(1000), rnd.randrange(100)) for i in range(100000)]
        text = "id,name,score\n" + "".join("%d,%s,%d\n" % r for r in rows)
        b = self.ct.get_blob_client("big.csv")
        b.upload_blob(text.encode(), overwrite=True)
        got = b.query_blob("SELECT id, name FROM BlobStorage WHERE score > 90 AND name <> 'n5'",
                           blob_format=CSV, output_format=DelimitedTextDialect(
                               delimiter=",", lineterminator="\n", has_header=False)).readall()
        want = "".join("%d,%s\n" % (i, n) for i, n, s in rows if s > 90 and n != "n5")
        self.assertGreater(len(want), 1000)
        self.assertEqual(got.decode(), want)
        count = b.query_blob("SELECT COUNT(*) FROM BlobStorage WHERE score <= 10 OR id < 5",
                             blob_format=CSV).readall()
        self.assertEqual(int(count.decode().strip()),
                         sum(1 for i, n, s in rows if s <= 10 or i < 5))

    def test_json_lines_and_json_output(self):
        recs = [{"name": "ada", "age": 36, "team": "ml"}, {"name": "bob", "age": 25, "team": "web"},
                {"name": "cy", "age": 41, "team": "ml"}]
        b = self.ct.get_blob_client("people.json")
        b.upload_blob("\n".join(json.dumps(r) for r in recs).encode(), overwrite=True)
        got = b.query_blob("SELECT name, age FROM BlobStorage WHERE team = 'ml' AND NOT age < 40",
                           blob_format=DelimitedJsonDialect(delimiter="\n"),
                           output_format=DelimitedJsonDialect(delimiter="\n")).readall()
        self.assertEqual([json.loads(x) for x in got.decode().splitlines()],
                         [{"name": "cy", "age": 41}])
        csv_out = b.query_blob("SELECT * FROM BlobStorage WHERE age > 30",
                               blob_format=DelimitedJsonDialect(delimiter="\n"),
                               output_format=DelimitedTextDialect(delimiter=";",
                                                                  lineterminator="\n")).readall()
        self.assertEqual(csv_out.decode(), "ada;36;ml\ncy;41;ml\n")

    def test_bad_rows_are_error_records(self):
        b = self.ct.get_blob_client("ragged.csv")
        b.upload_blob(b"a,b,c\n1,2,3\n4,5\n7,8,9\n", overwrite=True)
        errors = []
        got = b.query_blob("SELECT _3 FROM BlobStorage", on_error=errors.append,
                           blob_format=DelimitedTextDialect(has_header=True),
                           output_format=DelimitedTextDialect(has_header=False)).readall()
        self.assertEqual(got.decode(), "3\n9\n")
        self.assertEqual([(e.error, e.is_fatal, e.position) for e in errors],
                         [("InvalidColumnOrdinal", False, 12)])

    def test_syntax_error(self):
        b = self.ct.get_blob_client("s.csv")
        b.upload_blob(b"a\n1\n", overwrite=True)
        with self.assertRaises(HttpResponseError) as cm:
            b.query_blob("SELECT a FROM BlobStorage WHERE a >", blob_format=CSV).readall()
        self.assertEqual((cm.exception.status_code, cm.exception.error_code),
                         (400, "InvalidQueryExpression"))
        self.assertIn("position 36", str(cm.exception))


if __name__ == "__main__":
    unittest.main()
