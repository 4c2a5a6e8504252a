"""The atlassian-python-api calls LangChain's ConfluenceLoader makes to load
a space, made unmodified against a Confluence site; prints, as one JSON
object, everything they returned that the ground truth can confirm.

Usage: python confluence_loader_calls.py URL EMAIL TOKEN SPACE LIMIT

The calls, as `langchain_community/document_loaders/confluence.py` makes
them (`include_labels`, `include_attachments`, default restriction check):
`get_all_pages_from_space` paged by `start` until an empty batch (pages and
blog posts), `get_all_restrictions_for_content` per page (`is_public_page`),
`get_page_by_id` (its `page_ids` load), `get_page_comments`
(`include_comments`), `get_attachments_from_content` and
the attachment downloads (`request(path=url + _links.download,
absolute=True)`), `get_all_pages_by_label` (its `label` load) and the CQL
search through `rest/api/content/search` following `_links.next` (its `cql`
load); `get_page_labels`, `get_page_child_by_type` and `cql`; and
confluence-markdown-exporter's space export (`exporter_calls`).
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
    """LangChain's `_search_content_by_cql` with its cursor paging (and
    confluence-markdown-exporter's, without `expand`)."""
    docs = []
    params = {"cql": cql, "limit": limit}
    if expand:
        params["expand"] = expand
    response = confluence.get("rest/api/content/search", params=params)
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
        "comments": {},
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
        # include_comments: footer and inline comments, as the loader asks.
        comments = confluence.get_page_comments(cid, expand="body.view.value", depth="all")
        out["comments"][cid] = [
            {"id": r["id"], "title": r["title"], "view": bool(r["body"]["view"]["value"])}
            for r in comments["results"]
        ]
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
    out["exporter"] = exporter_calls(confluence, url, space)
    json.dump(out, sys.stdout, indent=1, sort_keys=True)


def exporter_calls(confluence, url, space):
    """confluence-markdown-exporter's space export: the spaces with their
    homepages, the homepage's descendants by CQL, each page with its
    rendered bodies, labels, properties and ancestors, its attachments in
    batches of 50 (by `size`) with their container and version, and their
    downloads."""
    spaces = confluence.get_all_spaces(space_type="global", space_status="current", expand="homepage")
    home = next(s for s in spaces["results"] if s["key"] == space)["homepage"]["id"]
    below = [r["id"] for r in cql_search(confluence, f"type=page AND ancestor={home}", 100, None)]
    pages = {}
    for pid in [home, *below]:
        page = confluence.get_page_by_id(
            pid,
            expand="body.view,body.export_view,body.editor2,metadata.labels,metadata.properties,ancestors",
        )
        files, start, size = [], 0, 50
        while size >= 50:
            batch = confluence.get_attachments_from_content(
                pid, start=start, limit=50, expand="container.ancestors,version"
            )
            for a in batch["results"]:
                body = confluence._session.get(url + a["_links"]["download"])
                body.raise_for_status()
                files.append(
                    {
                        "id": a["id"],
                        "title": a["title"],
                        "version": a["version"]["number"],
                        "container": a["container"]["id"],
                        "space": a["_expandable"]["space"].split("/")[-1],
                        "fileId": a["extensions"]["fileId"],
                        "sha256": hashlib.sha256(body.content).hexdigest(),
                    }
                )
            size = batch["size"]
            start += size
        metadata = page["metadata"]
        pages[pid] = {
            "title": page["title"],
            "space": page["_expandable"]["space"].split("/")[-1],
            "rendered": all(page["body"][b]["value"] for b in ("view", "export_view", "editor2")),
            "labels": sorted(label["name"] for label in metadata["labels"]["results"]),
            "properties": {p["key"]: p["value"] for p in metadata["properties"]["results"]},
            "parent": (page["ancestors"] or [{"id": None}])[-1]["id"],
            "attachments": files,
        }
    return {"homepage": home, "pages": pages}


if __name__ == "__main__":
    main()
