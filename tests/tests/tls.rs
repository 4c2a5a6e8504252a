//! TLS and company networks (issue 16): the fakes' `--tls`, the host
//! trusting extra certificate authorities (`[network] ca_file`,
//! `SSL_CERT_FILE`), and proxies (`HTTPS_PROXY`, `HTTP_PROXY`, `NO_PROXY`)
//! through a CONNECT proxy the test runs, which counts its tunnels and
//! keeps what it saw.

mod support;

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use support::proxy::{
    assert_password_in_no_file, proxy_basic, ConnectProxy, Inspection, NETWORK_VARS,
    PROXY_PASSWORD, PROXY_USER,
};
use support::{
    assert_exit_code, assert_success, export, files_under, items_config, output_text, plugin_path,
    stored, str_field, summary_of, toml_str, wait_for, FakeServer, Synchost, Workspace, TOKEN_VAR,
};

/// The source's credential (the fakes require it with `--token`).
const TOKEN: &str = "tok-tls-5d0c2e91b7a4";

/// `synchost-fake items --tls`: https with a CA of its own, printed as
/// `ca: PATH.pem` and removed when the fake is stopped.
#[test]
fn tls_fake_serves_https_with_its_own_ca() {
    let fake = FakeServer::start("items", &["--count", "40", "--tls"]);
    assert!(
        fake.url().starts_with("https://127.0.0.1:"),
        "{}",
        fake.url()
    );
    let ca = fake.ca().expect("a `ca:` line").to_path_buf();
    let pem = std::fs::read_to_string(&ca).expect("the CA file exists while the fake runs");
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
    // The control API answers over https, trusting that CA.
    assert_eq!(fake.ground_truth().len(), 40);

    // Plain http to the same port gets no HTTP answer.
    let mut tcp = TcpStream::connect(("127.0.0.1", fake.port())).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    tcp.write_all(b"GET /_control/stats HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    let _ = tcp.read_to_end(&mut answer);
    assert!(
        !answer.starts_with(b"HTTP/"),
        "plain http was answered: {}",
        String::from_utf8_lossy(&answer)
    );

    // SIGTERM: the fake removes its CA file before it exits.
    let status = std::process::Command::new("kill")
        .args(["-TERM", &fake.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    wait_for("the CA file removed", Duration::from_secs(20), || {
        !ca.exists()
    });
}

// ---------------------------------------------------------------------------
// Pulls over TLS

/// `synchost pull items --json` with the token, none of the machine's
/// network variables, and `env`.
fn pull(ws: &Workspace, extra: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut run = Synchost::new(ws)
        .args(["pull", "items", "--json"])
        .args(extra)
        .shared_cache()
        .env(TOKEN_VAR, TOKEN);
    for var in NETWORK_VARS {
        run = run.env_remove(var);
    }
    for (key, value) in env {
        run = run.env(key, value);
    }
    run.output()
}

/// The items source against `fake` with the bearer token, no retries (a
/// refusal is final at once) and `network` appended (a `[network]` table).
fn config(ws: &Workspace, fake: &FakeServer, network: &str) {
    items_config(
        ws,
        fake,
        &format!(
            "[sources.items.auth]\ntype = \"bearer\"\ntoken_env = \"{TOKEN_VAR}\"\n\n\
             [sources.items.retry]\nmax_retries = 0\n\n{network}"
        ),
    );
}

fn ca_table(ca: &Path) -> String {
    format!(
        "[network]\nca_file = {}\n",
        toml_str(&ca.display().to_string())
    )
}

/// A workspace whose items source reads the `--tls` fake trusting its CA.
fn trusting_workspace(fake: &FakeServer) -> Workspace {
    let ws = Workspace::new();
    config(&ws, fake, &ca_table(fake.ca().expect("a --tls fake")));
    ws
}

fn tls_fake(count: &str) -> FakeServer {
    FakeServer::start("items", &["--count", count, "--tls", "--token", TOKEN])
}

/// What the store holds equals the fake's ground truth.
#[track_caller]
fn assert_stored_all(ws: &Workspace, fake: &FakeServer) {
    let mut truth = fake.ground_truth();
    truth.sort();
    assert_eq!(stored(&export(ws, "items", &[])).live, truth);
}

#[test]
fn pull_over_tls_trusting_the_fake_ca_by_config_or_ssl_cert_file() {
    let fake = tls_fake("350");
    let ca = fake.ca().unwrap();

    let ws = Workspace::new();
    config(&ws, &fake, &ca_table(ca));
    assert_success(&pull(&ws, &[], &[]));
    assert_stored_all(&ws, &fake);

    // The same CA named by SSL_CERT_FILE instead.
    let by_env = Workspace::new();
    config(&by_env, &fake, "");
    assert_success(&pull(
        &by_env,
        &[],
        &[("SSL_CERT_FILE", ca.to_str().unwrap())],
    ));
    assert_stored_all(&by_env, &fake);
}

#[test]
fn an_untrusted_certificate_fails_the_pull_naming_the_problem() {
    let fake = tls_fake("50");
    let ws = Workspace::new();
    config(&ws, &fake, "");
    let out = pull(&ws, &[], &[]);
    let stderr = assert_exit_code(&out, 1);
    let (stdout, _) = output_text(&out);
    let all = format!("{stdout}\n{stderr}");
    assert!(
        all.contains("TLS certificate of 127.0.0.1 is not trusted")
            && all.contains("UnknownIssuer")
            && all.contains("[network] ca_file"),
        "{all}"
    );
    assert!(!all.contains(TOKEN), "{all}");
    // Nothing stored, and no request was answered: the handshake failed.
    let records = if ws.store_path().exists() {
        export(&ws, "items", &[])
    } else {
        Vec::new()
    };
    assert!(records.is_empty(), "{records:?}");
    assert_eq!(fake.requests(), 0);
}

#[test]
fn unusable_ca_files_and_proxy_urls_are_refused_before_any_request() {
    let fake = tls_fake("10");
    let ws = Workspace::new();
    let missing = ws.path().join("no-such-ca.pem");
    let garbage = ws.path().join("garbage.pem");
    std::fs::write(
        &garbage,
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let not_pem = ws.path().join("notes.txt");
    std::fs::write(&not_pem, "just words\n").unwrap();
    let ca = fake.ca().unwrap().to_str().unwrap();
    let cases = [
        (ca_table(&missing), vec![], "no-such-ca.pem: cannot read"),
        (ca_table(&garbage), vec![], "certificate 1 is not usable"),
        (ca_table(&not_pem), vec![], "holds no PEM certificate"),
        (
            String::new(),
            vec![("SSL_CERT_FILE", missing.to_str().unwrap())],
            "SSL_CERT_FILE /",
        ),
        (
            String::new(),
            vec![
                ("SSL_CERT_FILE", ca),
                (
                    "HTTPS_PROXY",
                    "socks5://someone:sock-secret-99@127.0.0.1:1080",
                ),
            ],
            "HTTPS_PROXY is not a usable proxy URL",
        ),
    ];
    for (network, env, expected) in cases {
        config(&ws, &fake, &network);
        let out = pull(&ws, &[], &env);
        let stderr = assert_exit_code(&out, 2);
        assert!(stderr.contains(expected), "{expected:?} not in: {stderr}");
        assert!(!stderr.contains("sock-secret-99"), "{stderr}");
    }
    assert_eq!(fake.requests(), 0);
}

#[test]
fn a_pull_goes_through_the_https_proxy_unless_no_proxy_says_otherwise() {
    let fake = tls_fake("300");
    let proxy = ConnectProxy::start();
    let ws = trusting_workspace(&fake);
    let cassette = ws.path().join("cassette");
    let out = pull(
        &ws,
        &["--record", cassette.to_str().unwrap()],
        // Every log line of every crate, to look for the password in.
        &[("HTTPS_PROXY", &proxy.url()), ("RUST_LOG", "debug")],
    );
    let stdout = assert_success(&out);
    assert_stored_all(&ws, &fake);
    assert!(proxy.tunnels() > 0, "no tunnel through the proxy");
    {
        let log = proxy.log.lock().unwrap();
        for head in &log.heads {
            assert!(head.starts_with("CONNECT 127.0.0.1:"), "{head}");
            // The source's credential goes inside the tunnel, never to the proxy.
            assert!(
                !head.contains(TOKEN) && !head.to_ascii_lowercase().contains("\nauthorization:"),
                "{head}"
            );
        }
        // Inside the tunnel, TLS: the token is never readable on the way.
        let relayed = String::from_utf8_lossy(&log.relayed);
        assert!(!log.relayed.is_empty() && !relayed.contains(TOKEN) && !relayed.contains("GET /"));
    }
    // The fake answered every request the host sent.
    let summary = summary_of(&stdout);
    assert!(fake.requests() > 0);
    assert_eq!(
        summary["summary"]["requests"].as_u64(),
        Some(fake.requests()),
        "{summary}"
    );
    // The proxy's password is nowhere: output, store, cassette.
    let (_, stderr) = output_text(&out);
    for secret in [PROXY_PASSWORD, &proxy_basic()] {
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "{secret} shown"
        );
    }
    assert_password_in_no_file(ws.path());
    assert!(
        !files_under(&cassette).is_empty(),
        "a cassette was recorded"
    );

    // NO_PROXY: straight to the origin.
    let direct = trusting_workspace(&fake);
    let tunnels = proxy.tunnels();
    assert_success(&pull(
        &direct,
        &[],
        &[("HTTPS_PROXY", &proxy.url()), ("NO_PROXY", "127.0.0.1")],
    ));
    assert_stored_all(&direct, &fake);
    assert_eq!(proxy.tunnels(), tunnels, "NO_PROXY went through the proxy");
}

#[test]
fn a_proxy_refusing_its_credentials_fails_without_showing_them() {
    let fake = tls_fake("20");
    let proxy = ConnectProxy::start();
    let ws = trusting_workspace(&fake);
    let wrong = format!("http://{PROXY_USER}:wrong-pw-31c9@127.0.0.1:{}", proxy.port);
    let out = pull(&ws, &[], &[("https_proxy", &wrong)]);
    let stderr = assert_exit_code(&out, 1);
    let (stdout, _) = output_text(&out);
    assert!(
        !format!("{stdout}{stderr}").contains("wrong-pw-31c9"),
        "{stderr}"
    );
    assert_eq!(proxy.tunnels(), 0);
    assert!(
        !proxy.log.lock().unwrap().heads.is_empty(),
        "lower-case https_proxy was used"
    );
    assert_eq!(fake.requests(), 0);
}

/// Plain http goes through `HTTP_PROXY`, except when it carries the
/// credential (an http base_url's origin): in clear text, the proxy would
/// read it, so that origin is reached directly.
#[test]
fn plain_http_goes_through_the_http_proxy_but_never_with_the_credential() {
    let fake = FakeServer::start("items", &["--count", "30"]);
    let proxy = ConnectProxy::start();
    let ws = Workspace::new();
    items_config(&ws, &fake, "");
    assert_success(&pull(&ws, &[], &[("HTTP_PROXY", &proxy.url())]));
    assert_stored_all(&ws, &fake);
    assert!(proxy.log.lock().unwrap().forwarded > 0, "HTTP_PROXY unused");

    let guarded = FakeServer::start("items", &["--count", "30", "--token", TOKEN]);
    let proxy = ConnectProxy::start();
    let ws = Workspace::new();
    config(&ws, &guarded, "");
    assert_success(&pull(&ws, &[], &[("HTTP_PROXY", &proxy.url())]));
    assert_stored_all(&ws, &guarded);
    assert!(
        proxy.log.lock().unwrap().heads.is_empty(),
        "the proxy was asked"
    );
}

/// A TLS-inspecting proxy (the reason for `ca_file`): trusted through its
/// own CA, it reads every request, and counts as many as the host sent and
/// the origin answered; trusting only the origin's CA, the host refuses it.
#[test]
fn a_tls_inspecting_proxy_works_when_its_ca_is_trusted() {
    let fake = tls_fake("250");
    let inspection = Inspection::new(fake.ca().unwrap());
    let ws = Workspace::new();
    let proxy_ca = ws.path().join("proxy-ca.pem");
    std::fs::write(&proxy_ca, &inspection.ca_pem).unwrap();
    let proxy = ConnectProxy::inspecting(inspection);
    config(&ws, &fake, &ca_table(&proxy_ca));
    let out = pull(&ws, &[], &[("HTTPS_PROXY", &proxy.url())]);
    let stdout = assert_success(&out);
    assert_stored_all(&ws, &fake);
    let inspected = proxy.log.lock().unwrap().inspected.len() as u64;
    let host = summary_of(&stdout)["summary"]["requests"].as_u64();
    assert!(inspected > 0);
    assert_eq!(host, Some(inspected), "the proxy's count is the host's");
    assert_eq!(fake.requests(), inspected, "and the origin's");

    // Without the proxy's CA (the origin's alone), the host refuses it.
    let strict = trusting_workspace(&fake);
    let before = fake.requests();
    let out = pull(&strict, &[], &[("HTTPS_PROXY", &proxy.url())]);
    let stderr = assert_exit_code(&out, 1);
    assert!(
        stderr.contains("not trusted") && stderr.contains("UnknownIssuer"),
        "{stderr}"
    );
    assert_eq!(fake.requests(), before);
}

/// A redirect from https to plain http is refused before the hop is sent,
/// end to end now that a fake serves https; the https origin itself gets
/// the credential, inside TLS.
#[test]
fn a_redirect_from_https_to_plain_http_is_refused() {
    let tls = FakeServer::start("items", &["--count", "1", "--tls"]);
    let plain = FakeServer::start("items", &["--count", "1"]);
    let (tls_port, plain_port) = (tls.port(), plain.port());
    let urls = [
        format!("{}/echo", tls.url()),
        format!(
            "{}/redirect?to=http://localhost:{plain_port}/echo",
            tls.url()
        ),
    ];
    let ws = Workspace::new();
    ws.write_config(&format!(
        "[sources.hostile]\nplugin = {plugin}\n\
         allowed_hosts = [\"https://127.0.0.1:{tls_port}\", \"localhost:*\"]\n\
         [sources.hostile.settings]\nattack = \"echo-urls\"\nbase_url = {base}\nurls = {urls}\n\
         [sources.hostile.auth]\ntype = \"bearer\"\ntoken_env = \"{TOKEN_VAR}\"\n\n{network}",
        plugin = toml_str(&plugin_path("hostile").display().to_string()),
        base = toml_str(tls.url()),
        urls = toml_str(&urls.join(" ")),
        network = ca_table(tls.ca().unwrap()),
    ));
    let mut run = Synchost::new(&ws)
        .args(["pull", "hostile"])
        .shared_cache()
        .env(TOKEN_VAR, TOKEN);
    for var in NETWORK_VARS {
        run = run.env_remove(var);
    }
    assert_success(&run.output());
    let records = export(&ws, "hostile", &[]);
    let report = records
        .iter()
        .find(|r| r["id"] == "report")
        .expect("a report");
    let outcomes: Vec<Value> = serde_json::from_str(str_field(report, "content")).unwrap();
    let echoed: Value = serde_json::from_str(str_field(&outcomes[0], "body")).unwrap();
    assert!(
        echoed["headers"]["authorization"]
            .as_str()
            .is_some_and(|v| v.contains("[REDACTED]")),
        "the https origin got the credential: {}",
        outcomes[0]
    );
    let denied = outcomes[1]["denied"].as_str().unwrap_or_default();
    assert!(
        denied.contains("redirect refused") && denied.contains("would leave https for plain http"),
        "{}",
        outcomes[1]
    );
    assert_eq!(plain.requests(), 0, "the plain http hop was sent");
}

/// A source configured with `http://` for a server that moved to https: the
/// fake's plain-http port answers only redirects to its https port, which
/// `base_url`'s origin does not allow. The pull fails before any request
/// reaches the https side, the credential never goes over plain http, and
/// the error says which URL to use.
#[test]
fn a_plain_http_base_url_redirected_to_https_fails_saying_which_url_to_use() {
    let fake = tls_fake("20");
    let plain = fake.stdout_line("plain http: ");
    let plain = plain
        .strip_suffix(" (redirects to https)")
        .unwrap_or_else(|| panic!("unexpected `plain http:` line: {plain}"));
    assert!(plain.starts_with("http://127.0.0.1:"), "{plain}");

    let ws = Workspace::new();
    ws.write_config(&format!(
        "[sources.items]\nplugin = {}\n\n[sources.items.settings]\nbase_url = {}\n\n\
         [sources.items.retry]\nmax_retries = 0\n\n{}",
        toml_str(&plugin_path("example-items").display().to_string()),
        toml_str(plain),
        ca_table(fake.ca().unwrap()),
    ));
    let out = pull(&ws, &[], &[]);
    let (stdout, stderr) = output_text(&out);
    assert!(!out.status.success(), "{stdout}\n{stderr}");
    let all = format!("{stdout}\n{stderr}");
    assert!(
        all.contains("redirect refused")
            && all.contains(&format!("use `{}` in base_url", fake.url())),
        "{all}"
    );
    assert_eq!(fake.requests(), 0, "a request reached the https side");
    let records = if ws.store_path().exists() {
        export(&ws, "items", &[])
    } else {
        Vec::new()
    };
    assert!(records.is_empty(), "{records:?}");
}
