"""``python -m splaredb.cluster`` (also installed as ``splaredb-cluster``): sync a database into a cluster
collection, export OpenSearch/Elasticsearch bulk files, show a collection's identity.

    splaredb-cluster sync DB milvus-lite:./docs.db [--collection NAME] [--batch N] [--full]
    splaredb-cluster sync DB milvus://host:19530 --collection packages
    splaredb-cluster sync DB qdrant-edge:./shard
    splaredb-cluster export DB OUT_DIR [--flavor opensearch|opensearch-seismic|elasticsearch] [--index NAME]
    splaredb-cluster info milvus-lite:./docs.db [--collection NAME]

Exit status: 0 on success, 1 on a splaredb error (the message on stderr), 2 on bad usage, 130 when
interrupted (a sync run again resumes).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import List, Optional

from .. import open as open_db
from ..errors import Error
from . import connect, export_bulk, open_target, sync
from .bulk import FLAVORS
from .sync import describe


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="splaredb-cluster", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("sync", help="copy a database into a Milvus/Qdrant collection (incremental, resumable)")
    s.add_argument("db", help="the splaredb database directory")
    s.add_argument("target", help="milvus://HOST:PORT, milvus-lite:FILE.db or qdrant-edge:DIR")
    s.add_argument("--collection", default="splaredb", help="Milvus collection name (default: splaredb)")
    s.add_argument("--batch", type=int, default=256, help="documents per write request (default: 256)")
    s.add_argument("--full", action="store_true", help="compare everything even if the commit is unchanged")
    s.add_argument("--quiet", action="store_true", help="no progress lines")
    e = sub.add_parser("export", help="write OpenSearch/Elasticsearch _bulk files and the index mapping")
    e.add_argument("db")
    e.add_argument("out_dir")
    e.add_argument("--flavor", choices=FLAVORS, default="opensearch")
    e.add_argument("--index", default="splaredb", help="the index name in the bulk actions")
    e.add_argument("--docs-per-file", type=int, default=10_000)
    i = sub.add_parser("info", help="a collection's identity record, document count and last sync")
    i.add_argument("target")
    i.add_argument("--collection", default="splaredb")
    return p


def main(argv: Optional[List[str]] = None) -> int:
    """Runs the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "sync":
            with open_db(args.db, model=None, read_only=True, create=False) as db:
                with open_target(db, args.target, args.collection) as index:
                    report = sync(db, index, batch_size=args.batch, progress=not args.quiet, full=args.full)
            print(describe(report))
        elif args.command == "export":
            with open_db(args.db, model=None, read_only=True, create=False) as db:
                r = export_bulk(db, args.out_dir, flavor=args.flavor, index=args.index, docs_per_file=args.docs_per_file)
            print(f"{r.documents} documents in {len(r.files)} file(s); mapping {r.mapping}; {r.dropped_weights} zero weights left out")
        else:
            with connect(args.target, args.collection, model=None, create=False) as index:
                info = {
                    "where": index.where,
                    "identity": json.loads(index.identity.to_json()),
                    "documents": len(index),
                    "last_sync": index.read_sync_state(),
                }
            print(json.dumps(info, indent=2))
    except Error as e:
        print(f"splaredb-cluster: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("splaredb-cluster: interrupted (run the sync again to resume)", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
