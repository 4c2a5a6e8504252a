"""The atlassian-python-api calls LangChain's ConfluenceLoader makes to load
a space, made unmodified against a Confluence site; prints, as one JSON
object, everything they returned that the ground truth can confirm.

Usage: python confluence_loader_calls.py URL EMAIL TOKEN SPACE LIMIT

The calls, as `langchain_community/document_loaders/confluence.py` makes
them (`include_labels`, `include_attachments`, default restriction check):
`get_all_pages_from_space` paged by `start` until an empty batch (pages and
blog posts), `get_all_restrictions_for_content` per page (`is_public_page`),
`get_page_by_id` (its `page_ids` load), `get_attachments_from_content` and
the attachment downloads (`request(path=url + _links.download,
absolute=True)`), `get_all_pages_by_label` (its `label` load) and the CQL
search through `rest/api/content/search` following `_links.next` (its `cql`
load); and those confluence-markdown-exporter adds: `get_space`,
`get_page_labels`, `get_page_child_by_type` and `cql`.
"""

import hashlib
import json
import sys

from atlassian import Confluence


# The page size of the `label` load.
LABEL_LIMIT = 50


def sha(text):
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def paged(method, limit, max_pages=1000, **kwargs):
    """LangChain's `paginate_request` (without CQL): `start` = what it has,
    until an empty batch or `max_pages` (its default: 1000)."""
    docs = []
    while len(docs) < max_pages:
        batch = method(start=len(docs), limit=limit, **kwargs)
        if not batch:
            break
        docs.extend(batch)
    return docs[:max_pages]


def content(c):
    """What a loaded page or blog post yields (the loader's metadata and
    the body's digest)."""
    return {
        "id": c["id"],
        "type": c["type"],
        "status": c["status"],
        "title": c["title"],
        "version": c["version"]["number"],
        "when": c["version"]["when"],
        "webui": c["_links"]["webui"],
        "sha256": sha(c["body"]["storage"]["value"]),
        "labels": sorted(
            label["name"]
            for label in c.get("metadata", {}).get("labels", {}).get("results", [])
        ),
    }


def cql_search(confluence, cql, limit, expand):
    """LangChain's `_search_content_by_cql` with its cursor paging."""
    docs = []
    response = confluence.get(
        "rest/api/content/search",
        params={"cql": cql, "limit": limit, "expand": expand},
    )
    while True:
        docs.extend(response.get("results", []))
        next_url = response.get("_links", {}).get("next", "")
        if not next_url:
            return docs
        response = confluence.get(next_url)


def main():
    url, email, token, space, limit = sys.argv[1:6]
    limit = int(limit)
    confluence = Confluence(url=url, username=email, password=token, cloud=True)
    # ContentFormat.STORAGE, "version" and, with include_labels, the labels.
    expand = "body.storage,version,metadata.labels"

    home = confluence.get_space(space, expand="homepage")
    pages = paged(
        confluence.get_all_pages_from_space,
        limit,
        space=space,
        status="current",
        expand=expand,
    )
    posts = paged(
        confluence.get_all_pages_from_space,
        limit,
        space=space,
        status="current",
        expand=expand,
        content_type="blogpost",
    )
    out = {
        "space": {"key": home["key"], "homepage": home["homepage"]["id"]},
        "pages": [content(p) for p in pages],
        "blogposts": [content(p) for p in posts],
        "by_id": {},
        "restricted": {},
        "labels": {},
        "attachments": {},
        "children": {},
        "ancestor": {},
        "label": {},
        "cql_label": {},
    }
    for c in pages + posts:
        cid = c["id"]
        out["by_id"][cid] = content(confluence.get_page_by_id(page_id=cid, expand=expand))
        read = confluence.get_all_restrictions_for_content(cid)["read"]["restrictions"]
        out["restricted"][cid] = bool(
            read["user"]["results"] or read["group"]["results"]
        )
        out["labels"][cid] = sorted(
            label["name"] for label in confluence.get_page_labels(cid)["results"]
        )
        files = []
        for a in confluence.get_attachments_from_content(cid)["results"]:
            body = confluence.request(path=url + a["_links"]["download"], absolute=True)
            body.raise_for_status()
            files.append(
                {
                    "id": a["id"],
                    "title": a["title"],
                    "mediaType": a["metadata"]["mediaType"],
                    "sha256": hashlib.sha256(body.content).hexdigest(),
                }
            )
        out["attachments"][cid] = files
    for p in pages:
        pid = p["id"]
        out["children"][pid] = [
            child["id"] for child in confluence.get_page_child_by_type(pid, type="page")
        ]
        out["ancestor"][pid] = [
            r["id"] for r in cql_search(confluence, f"type=page AND ancestor={pid}", limit, expand)
        ]
    for name in sorted({n for c in out["pages"] for n in c["labels"]}):
        # The loader's `label` load: the real search ignores `start`
        # (atlassian-python-api issue 820), so this ends at `max_pages`,
        # here after two batches of LABEL_LIMIT, and the loader keeps the
        # set of ids.
        out["label"][name] = [
            [r["id"] for r in confluence.get_all_pages_by_label(name, start=start, limit=LABEL_LIMIT)]
            for start in (0, LABEL_LIMIT)
        ]
        found = confluence.cql(f'type=page AND label="{name}"', limit=1000)
        out["cql_label"][name] = {
            "ids": [r["content"]["id"] for r in found["results"]],
            "totalSize": found["totalSize"],
        }
    json.dump(out, sys.stdout, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
