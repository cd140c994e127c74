"""pymilvus's ORM API through a daemon socket: connections.connect(alias, uri="unix:...").

Usage: orm.py URI. Prints the server version and the collections.
"""
import json
import sys
import warnings

from pymilvus import connections, utility

warnings.simplefilter("ignore")  # connections.* is deprecated in pymilvus 3


def main():
    connections.connect(alias="through-connd", uri=sys.argv[1])
    version = utility.get_server_version(using="through-connd")
    collections = utility.list_collections(using="through-connd")
    print(json.dumps({"version": version, "connected": connections.has_connection("through-connd"),
                      "collections": collections}))
    connections.disconnect("through-connd")


if __name__ == "__main__":
    main()
