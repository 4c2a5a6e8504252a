use super::*;

fn corpus() -> Vec<(String, String)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/storage-corpus");
    let mut bodies: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&path).unwrap())
        })
        .collect();
    bodies.sort();
    assert!(bodies.len() >= 20, "the corpus is missing");
    bodies
}

fn round_trip(body: &str, links: &Links) -> String {
    let md = to_markdown(body, links);
    let back = to_storage(&md, links).unwrap_or_else(|e| panic!("{e}\n{md}"));
    assert_eq!(back, body, "Markdown was:\n{md}");
    md
}

#[test]
fn every_corpus_body_round_trips_byte_for_byte() {
    let links = Links::new([("diagram.png".to_string(), "Page/diagram.png".to_string())]);
    for (name, body) in corpus() {
        let md = to_markdown(&body, &links);
        assert_eq!(
            to_storage(&md, &links).as_deref(),
            Ok(body.as_str()),
            "{name}: Markdown was:\n{md}"
        );
    }
}

/// What the corpus bodies become: Markdown where Markdown can say it.
#[test]
fn simple_blocks_become_markdown_and_macros_stay_verbatim() {
    let bodies: std::collections::HashMap<String, String> = corpus().into_iter().collect();
    let links = Links::new([("diagram.png".to_string(), "Page/diagram.png".to_string())]);
    let md = |name: &str| to_markdown(&bodies[&format!("{name}.xml")], &links);

    let headings = md("headings");
    assert!(
        headings.starts_with("# Heading 1\n\n## Heading 2\n"),
        "{headings}"
    );
    assert!(headings.contains("## C# &amp; *emphasis* in a heading"));
    assert!(!headings.contains(RAW_INFO));

    let paragraphs = md("paragraphs");
    assert!(!paragraphs.contains(RAW_INFO), "{paragraphs}");
    // Escaped text stays escaped: never a tag, never bold.
    assert!(paragraphs.contains("&lt;b&gt;not bold&lt;/b&gt;"));
    assert!(paragraphs.contains(r"\*stars\*"), "{paragraphs}");
    assert!(paragraphs.contains(r"\[brackets\](x)"));
    assert!(paragraphs.contains(r"a \| pipe"));

    let starts = md("line-starts");
    for escaped in [
        r"\- not",
        r"1\. not",
        r"\# not",
        r"\+ plus",
        r"2024\) year",
        r"\---",
    ] {
        assert!(starts.contains(escaped), "{escaped} in {starts}");
    }

    let lists = md("lists");
    assert!(lists.starts_with("- round bullet list item\n- second\n  - nested one\n  - nested **two**\n    1. deeper\n"), "{lists}");
    assert!(
        lists.contains("- loose item\n\n- loose two\n\n  - nested tight"),
        "{lists}"
    );
    assert!(lists.contains(RAW_INFO), "`start` is not Markdown's: raw");

    let code = md("code");
    assert!(
        code.starts_with("````java\npublic class Hello {\n"),
        "{code}"
    );
    assert!(code.contains("```\nno language\n```"), "{code}");
    assert!(
        code.contains("ac:macro-id=\"d7e2"),
        "a macro with more than Markdown holds is verbatim"
    );
    assert!(
        code.contains("```bash macro-id=3c4e9a1f-0b7d-4c55-9d0e-5f6a7b8c9d01\necho hi\n```"),
        "{code}"
    );
    assert!(code.contains("```text macro-id=a1\nplain\n```"), "{code}");

    let tables = md("tables");
    assert!(tables.contains("| Table Heading Cell 1 | Table Heading Cell 2 |\n| --- | --- |\n| Normal Cell 1 | a \\| pipe |\n|  | **bold** cell |"), "{tables}");
    assert!(tables.contains("<!-- <table data-layout=\"default\"> -->\n| Key | Value |"));

    let links_md = md("links");
    assert!(
        links_md.contains("[Atlassian](http://www.atlassian.com)"),
        "{links_md}"
    );
    assert!(links_md.contains("[[Page Title]] then [[R&amp;D Plans]]"));
    // A link with a body Markdown cannot hold stays inline, verbatim.
    assert!(links_md
        .contains("<ac:link><ri:page ri:content-title=\"Page Title\" /><ac:plain-text-link-body>"));

    let images = md("images");
    assert!(
        images.starts_with("![](Page/diagram.png)\n\nInline ![](<a b (1).png>) image"),
        "{images}"
    );

    for raw in ["panels", "task-list", "layouts", "merged-cells", "expand"] {
        let md = md(raw);
        assert!(md.starts_with(&format!("```{RAW_INFO}\n")), "{raw}: {md}");
    }
    let status = md("status-jira");
    assert!(
        status.starts_with("State: <ac:structured-macro ac:name=\"status\""),
        "{status}"
    );

    let quote = md("blockquote");
    assert!(
        quote.starts_with("> block quote\n\n> two\n>\n> paragraphs\n\n"),
        "{quote}"
    );

    let malformed = md("malformed");
    assert_eq!(
        malformed,
        format!("```{RAW_INFO}\n{}\n```\n", bodies["malformed.xml"])
    );

    let gaps = md("whitespace");
    assert!(
        gaps.starts_with("<!-- gap \"\\n  \" -->\n\nindented body\n\n<!-- gap \"\\n\\n\" -->"),
        "{gaps}"
    );
    assert!(gaps.contains("- a\n\n<!-- -->\n\n- b"), "{gaps}");
}

#[test]
fn hostile_text_is_never_markup() {
    let body = "<p>&lt;b&gt;x&lt;/b&gt; *a* [[b]] ![c](d) `e` &lt;!-- f --&gt;</p>";
    let md = round_trip(body, &Links::default());
    assert!(!md.contains("<b>"));
    let back = to_storage(&md, &Links::default()).unwrap();
    assert!(!back.contains("<strong>") && !back.contains("<ac:link>") && !back.contains("<code>"));
}

/// Markdown a user writes: clean storage, text escaped.
#[test]
fn user_markdown_becomes_clean_storage() {
    let links = Links::new([("pic.png".to_string(), "Page/pic.png".to_string())]);
    let cases = [
        ("A paragraph added.\n", "<p>A paragraph added.</p>"),
        ("a < b && c > d\n", "<p>a &lt; b &amp;&amp; c &gt; d</p>"),
        ("Keep &nbsp; and &amp; as written\n", "<p>Keep &nbsp; and &amp; as written</p>"),
        ("<b>inline html</b> stays\n", "<p><b>inline html</b> stays</p>"),
        ("unbalanced <b> tag\n", "<p>unbalanced &lt;b&gt; tag</p>"),
        ("# Title\n\nBody **bold** *em* ~~gone~~ `x<y`\n", "<h1>Title</h1><p>Body <strong>bold</strong> <em>em</em> <s>gone</s> <code>x&lt;y</code></p>"),
        ("- one\n- two\n  1. nested\n", "<ul><li>one</li><li>two<ol><li>nested</li></ol></li></ul>"),
        ("3. three\n4. four\n", "<ol start=\"3\"><li>three</li><li>four</li></ol>"),
        ("[site](https://x.test/?a=1&b=2) and [[Other Page]]\n", "<p><a href=\"https://x.test/?a=1&amp;b=2\">site</a> and <ac:link><ri:page ri:content-title=\"Other Page\" /></ac:link></p>"),
        ("![](Page/pic.png) ![](new.png)\n", "<p><ac:image><ri:attachment ri:filename=\"pic.png\" /></ac:image> <ac:image><ri:attachment ri:filename=\"new.png\" /></ac:image></p>"),
        ("```sh\necho ']]>'\n```\n", "<ac:structured-macro ac:name=\"code\" ac:schema-version=\"1\"><ac:parameter ac:name=\"language\">sh</ac:parameter><ac:plain-text-body><![CDATA[echo ']]]]><![CDATA[>']]></ac:plain-text-body></ac:structured-macro>"),
        ("| a | b |\n|---|:-:|\n| 1 |\n", "<table><tbody><tr><th><p>a</p></th><th><p>b</p></th></tr><tr><td><p>1</p></td><td><p /></td></tr></tbody></table>"),
        ("> quoted\n***\n", "<blockquote><p>quoted</p></blockquote><hr />"),
        ("line one\\\nline two\n", "<p>line one<br />line two</p>"),
        ("**unclosed and *also\n", "<p>**unclosed and *also</p>"),
    ];
    for (md, storage) in cases {
        assert_eq!(to_storage(md, &links).as_deref(), Ok(storage), "{md}");
    }
}

/// Editing one paragraph changes that paragraph's bytes and nothing else.
#[test]
fn an_edit_to_one_paragraph_changes_only_that_paragraph() {
    let bodies: std::collections::HashMap<String, String> = corpus().into_iter().collect();
    let body = [
        "whitespace.xml",
        "panels.xml",
        "paragraphs.xml",
        "tables.xml",
        "lists.xml",
        "code.xml",
    ]
    .map(|name| bodies[name].as_str())
    .concat();
    let links = Links::default();
    let md = round_trip(&body, &links);
    let old = "Plain text with R&amp;D";
    assert!(md.contains(old));
    let edited = md.replacen(old, "Edited text with R&amp;D & more", 1);
    let back = to_storage(&edited, &links).unwrap();
    let start = body.find("<p>Plain text").unwrap();
    let end = start + body[start..].find("</p>").unwrap() + 4;
    let expected = format!(
        "{}<p>Edited text with R&amp;D &amp; more{}",
        &body[..start],
        &body[start + "<p>Plain text with R&amp;D".len()..]
    );
    assert_eq!(back, expected);
    assert_eq!(&back[..start], &body[..start]);
    assert_eq!(&back[back.len() - (body.len() - end)..], &body[end..]);

    // A paragraph appended at the end is one new `<p>` after the body.
    let appended = format!("{md}\nA paragraph added in Markdown 42.\n");
    assert_eq!(
        to_storage(&appended, &links).unwrap(),
        format!("{body}<p>A paragraph added in Markdown 42.</p>")
    );
}

#[test]
fn hostile_bodies_are_bounded_and_never_panic() {
    let links = Links::default();
    // Deeper than the reader takes: kept verbatim.
    let deep = "<div>".repeat(10_000) + &"</div>".repeat(10_000);
    round_trip(&deep, &links);
    let deep_lists = "<ul><li>x".repeat(60) + &"</li></ul>".repeat(60);
    round_trip(&deep_lists, &links);
    let quotes = ">".repeat(5000) + " deep\n";
    assert!(to_storage(&quotes, &links).is_err());
    // Big and many openers without closers: linear enough to finish.
    let big = format!("<p>{}</p>", "**a [b ".repeat(100_000));
    round_trip(&big, &links);
    let stars = "**a [b `c ".repeat(100_000);
    to_storage(&stars, &links).unwrap();
    // Brackets that are no links, nested: each read once (this took
    // exponential time before spans were remembered).
    let nested = format!("{}x{}", "[*a ~~".repeat(200), "]".repeat(200));
    assert!(to_storage(&nested, &links).unwrap().contains("x]"));
    for odd in [
        "",
        " ",
        "\n",
        "<",
        "&",
        "<p>",
        "```",
        "````xml confluence-storage\n",
        "- ",
        "1.",
        "|",
        "|\n|-|",
        "<!-- gap \"x",
        "\\",
        "[",
        "![",
        "[[",
        "`",
    ] {
        let _ = to_storage(odd, &links);
        round_trip(odd, &links);
    }
}

#[test]
fn plain_text_has_no_markup() {
    let body = r#"<h1>Title</h1><p>R&amp;D &lt;b&gt; <strong>bold</strong>&nbsp;x</p><ac:structured-macro ac:name="code"><ac:parameter ac:name="language">rust</ac:parameter><ac:plain-text-body><![CDATA[fn main() {}]]></ac:plain-text-body></ac:structured-macro><p><ac:link><ri:page ri:content-title="Other" /></ac:link></p><table><tbody><tr><td>a</td><td>b</td></tr></tbody></table>"#;
    assert_eq!(
        to_text(body),
        "Title\n\nR&D <b> bold x\n\nfn main() {}\n\nOther\n\na\tb\n"
    );
    assert_eq!(to_text("<p>broken <b>"), "broken\n");
}
