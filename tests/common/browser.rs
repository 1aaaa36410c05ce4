//! Browser harness for the web pages (tests/web.rs): Debian's `chromedriver` and headless
//! Chromium driven over WebDriver with `fantoccini`.
//!
//! - [`run`] starts one `chromedriver` on a free loopback port in a process group of its own,
//!   opens a fresh browser session (its own profile directory), runs the test body, and kills
//!   the whole process group afterwards (chromedriver and every Chromium process, and any
//!   process naming the profile directory), also when the body panics: no process is left
//!   behind.
//! - Every wait is bounded ([`WAIT`]); the whole body is bounded by [`BODY_LIMIT`].
//! - On failure, a screenshot and the page source go to `target/web-failures/<test>.png` and
//!   `.html` (the target directory of the test binary, `CARGO_TARGET_DIR` included).
//! - `BIRCH_WEB_SCREENSHOTS=DIR` makes [`Browser::shot`] save named screenshots into `DIR`
//!   (the pictures of docs/web.md).
//! - When `chromium` or `chromedriver` is missing, [`available`] prints why the test skips;
//!   under CI (`CI` set) or with `BIRCH_WEB_REQUIRED=1` it fails instead: scripts/test installs
//!   both, so in CI the browser tests always run.
#![allow(dead_code)]

use std::future::Future;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::elements::Element;
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use futures_util::FutureExt;
use serde_json::json;

use crate::common::{free_port, listening, Server};

/// Upper bound of every single wait for an element, a page or a process.
pub const WAIT: Duration = Duration::from_secs(10);
/// Upper bound of a whole test body.
pub const BODY_LIMIT: Duration = Duration::from_secs(90);
/// The desktop viewport (also the size of the docs' screenshots).
pub const DESKTOP: (u32, u32) = (1000, 700);
/// The phone viewport (an iPhone 12-14's CSS pixels).
pub const PHONE: (u32, u32) = (390, 844);

/// Whether the browser tests can run here. Prints the reason when they cannot, and panics
/// instead under CI (`CI` set) or with `BIRCH_WEB_REQUIRED=1`, where skipping would hide a
/// missing install.
pub fn available(test: &str) -> bool {
    let missing: Vec<&str> = ["chromium", "chromedriver"].into_iter().filter(|tool| which(tool).is_none()).collect();
    if missing.is_empty() {
        return true;
    }
    let msg = format!(
        "{test}: SKIPPED, {} not installed (scripts/test installs Debian's chromium and chromium-driver: \
         apt-get install chromium chromium-driver)",
        missing.join(" and ")
    );
    let required = std::env::var_os("CI").is_some() || std::env::var("BIRCH_WEB_REQUIRED").as_deref() == Ok("1");
    assert!(!required, "{msg}; CI or BIRCH_WEB_REQUIRED=1 requires the browser tests to run");
    // Straight to the process's stderr: the test harness does not capture it, so a skip is
    // seen even when the test "passes".
    let _ = writeln!(std::io::stderr(), "{msg}");
    false
}

/// The path of `tool` on PATH.
fn which(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(tool)).find(|p| p.is_file())
}

/// Debian's real Chromium binary (its `/usr/bin/chromium` is a wrapper script), else the
/// `chromium` on PATH.
fn chromium_binary() -> PathBuf {
    let real = Path::new("/usr/lib/chromium/chromium");
    if real.is_file() {
        return real.to_path_buf();
    }
    which("chromium").unwrap_or_else(|| PathBuf::from("chromium"))
}

/// A Birch server with the demo (or not) and `[web] listen` on a free loopback port, ready
/// once the web listener has said `birch web listening on `. `sections` is more TOML
/// (whole sections only, e.g. `"[ppolicy]\nmax_failure = 3\n"`).
pub fn web_server(sections: &str, demo: bool) -> (Server, u16) {
    let web_port = free_port();
    let config = format!("[web]\nlisten = \"127.0.0.1:{web_port}\"\n{sections}");
    let s = Server::start_with(&config, demo);
    let deadline = Instant::now() + WAIT;
    loop {
        let log = std::fs::read_to_string(s.log_path()).unwrap_or_default();
        if log.contains("birch web listening on ") && listening(web_port) {
            return (s, web_port);
        }
        assert!(Instant::now() < deadline, "the web listener did not come up within {WAIT:?}:\n{log}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Which browser window a test wants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Viewport {
    /// [`DESKTOP`], Accept-Language `en-US,en`.
    Desktop,
    /// A phone: [`PHONE`] CSS pixels at device pixel ratio 1, a mobile user agent and touch
    /// (Chromium's mobile emulation, so `<meta name="viewport">` applies as on a phone).
    Phone,
}

/// `chromedriver` in a process group of its own; dropping it kills the group (chromedriver
/// and the Chromium processes it started) and waits for chromedriver.
struct Driver {
    child: Child,
    port: u16,
    /// The browser's profile directory (unique: it names the browser's processes).
    profile: tempfile::TempDir,
}

impl Driver {
    fn start() -> Driver {
        let port = free_port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start chromedriver: {e}"));
        let profile = tempfile::tempdir().expect("profile dir");
        let driver = Driver { child, port, profile };
        let deadline = Instant::now() + WAIT;
        while !listening(port) {
            assert!(Instant::now() < deadline, "chromedriver did not listen on {port} within {WAIT:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
        driver
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The negative pid names the process group: chromedriver and the browser it started.
        let _ = Command::new("kill").arg("-KILL").arg("--").arg(format!("-{}", self.child.id())).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Any browser process that left the group: found by its profile directory.
        let deadline = Instant::now() + WAIT;
        loop {
            let left = browser_processes(self.profile.path());
            if left.is_empty() || Instant::now() > deadline {
                break;
            }
            for pid in left {
                let _ = Command::new("kill").arg("-KILL").arg(pid.to_string()).status();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// The live processes (zombies excluded) whose command line names `profile`.
fn browser_processes(profile: &Path) -> Vec<u32> {
    let needle = profile.to_string_lossy().into_owned();
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            // A zombie's command line is empty.
            String::from_utf8_lossy(&cmdline).contains(&needle)
        })
        .collect()
}

/// The capabilities of a fresh headless session.
fn capabilities(viewport: Viewport, profile: &Path) -> serde_json::Map<String, serde_json::Value> {
    let (w, h) = match viewport {
        Viewport::Desktop => DESKTOP,
        Viewport::Phone => PHONE,
    };
    let mut options = json!({
        "binary": chromium_binary(),
        "args": [
            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            format!("--window-size={w},{h}"), "--hide-scrollbars", "--no-first-run",
            "--no-default-browser-check", "--disable-extensions", "--disable-background-networking",
            "--disable-sync", "--disable-component-update", "--lang=en-US", "--accept-lang=en-US,en",
            format!("--user-data-dir={}", profile.display()),
        ],
        "prefs": { "intl.accept_languages": "en-US,en" },
    });
    // The viewport exactly (a window size would include the headless window's frame).
    let mobile = viewport == Viewport::Phone;
    options["mobileEmulation"] =
        json!({ "deviceMetrics": { "width": w, "height": h, "pixelRatio": 1.0, "touch": mobile, "mobile": mobile } });
    let caps = json!({
        "browserName": "chrome",
        "goog:chromeOptions": options,
        "timeouts": { "pageLoad": 15000, "script": 10000, "implicit": 0 },
    });
    match caps {
        serde_json::Value::Object(m) => m,
        _ => unreachable!("a JSON object"),
    }
}

/// Runs `body` in a fresh browser session against `http://127.0.0.1:{web_port}`: the test's
/// name `test` names its failure files. Panics in the body (or a body running past
/// [`BODY_LIMIT`]) save a screenshot and the page source, then fail the test; the browser
/// processes are killed in every case.
pub async fn run<F, Fut>(test: &str, web_port: u16, viewport: Viewport, body: F)
where
    F: FnOnce(Browser) -> Fut,
    Fut: Future<Output = ()>,
{
    let driver = Driver::start();
    let mut builder = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new());
    builder.capabilities(capabilities(viewport, driver.profile.path()));
    let client = tokio::time::timeout(WAIT * 3, builder.connect(&format!("http://127.0.0.1:{}", driver.port)))
        .await
        .unwrap_or_else(|_| panic!("{test}: no WebDriver session within {:?}", WAIT * 3))
        .unwrap_or_else(|e| panic!("{test}: WebDriver session: {e}"));
    let browser = Browser {
        client: client.clone(),
        base: format!("http://127.0.0.1:{web_port}"),
        test: test.to_string(),
        shots: std::env::var_os("BIRCH_WEB_SCREENSHOTS").map(PathBuf::from),
    };
    let outcome = AssertUnwindSafe(tokio::time::timeout(BODY_LIMIT, body(browser.clone()))).catch_unwind().await;
    let failure: Option<Box<dyn std::any::Any + Send>> = match outcome {
        Ok(Ok(())) => None,
        Ok(Err(_)) => Some(Box::new(format!("{test}: the test body ran past {BODY_LIMIT:?}"))),
        Err(panic) => Some(panic),
    };
    if failure.is_some() {
        browser.save_failure().await;
    }
    let _ = tokio::time::timeout(WAIT, client.close()).await;
    drop(driver);
    if let Some(panic) = failure {
        std::panic::resume_unwind(panic);
    }
}

/// The target directory of this test binary (`…/target/debug/deps/web-…` → `…/target`).
fn target_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.ancestors().nth(3).map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("target"))
}

/// One browser session of a test (cheap to clone: the clones share the session).
#[derive(Clone)]
pub struct Browser {
    /// The WebDriver client, for what the helpers below lack.
    pub client: Client,
    base: String,
    test: String,
    shots: Option<PathBuf>,
}

impl Browser {
    /// `http://127.0.0.1:PORT` of the web listener.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Opens `path` (e.g. `/login?lang=zh-CN`) and waits for the page to load.
    pub async fn goto(&self, path: &str) {
        let url = format!("{}{path}", self.base);
        self.client.goto(&url).await.unwrap_or_else(|e| panic!("open {url}: {e}"));
        self.wait_loaded().await;
    }

    /// The path (and query) of the page shown.
    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.expect("current url");
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        }
    }

    /// Waits until `document.readyState` is `complete`.
    pub async fn wait_loaded(&self) {
        let deadline = Instant::now() + WAIT;
        loop {
            let state = self.client.execute("return document.readyState", vec![]).await;
            if matches!(state, Ok(serde_json::Value::String(ref s)) if s == "complete") {
                return;
            }
            assert!(Instant::now() < deadline, "page not loaded within {WAIT:?}");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// The element `css` matches, waiting for it up to [`WAIT`].
    pub async fn find(&self, css: &str) -> Element {
        let found =
            self.client.wait().at_most(WAIT).every(Duration::from_millis(25)).for_element(Locator::Css(css)).await;
        match found {
            Ok(el) => el,
            Err(e) => panic!("no element {css:?} on {} within {WAIT:?}: {e}", self.path().await),
        }
    }

    /// Whether `css` matches something now (no wait).
    pub async fn has(&self, css: &str) -> bool {
        self.client.find_all(Locator::Css(css)).await.map(|v| !v.is_empty()).unwrap_or(false)
    }

    /// The visible text of the element `css` matches (waiting for it).
    pub async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.unwrap_or_else(|e| panic!("text of {css:?}: {e}"))
    }

    /// The value of attribute `attr` of the element `css` matches.
    pub async fn attr(&self, css: &str, attr: &str) -> Option<String> {
        self.find(css).await.attr(attr).await.unwrap_or_else(|e| panic!("{attr} of {css:?}: {e}"))
    }

    /// Replaces the value of the input `css` matches with `value` (typed).
    pub async fn fill(&self, css: &str, value: &str) {
        let input = self.find(css).await;
        input.clear().await.unwrap_or_else(|e| panic!("clear {css:?}: {e}"));
        input.send_keys(value).await.unwrap_or_else(|e| panic!("type into {css:?}: {e}"));
    }

    /// Fills the fields of the form `#form_id` by name and submits it with its submit button,
    /// then waits for the next page.
    pub async fn submit_form(&self, form_id: &str, fields: &[(&str, &str)]) {
        for (name, value) in fields {
            self.fill(&format!("#{form_id} [name=\"{name}\"]"), value).await;
        }
        self.click_and_wait(&format!("#{form_id} button[type=\"submit\"]")).await;
    }

    /// Clicks the element `css` matches (a submit button or a link) and waits until another
    /// document has loaded.
    pub async fn click_and_wait(&self, css: &str) {
        let old = self.page_id().await;
        let el = self.find(css).await;
        el.click().await.unwrap_or_else(|e| panic!("click {css:?}: {e}"));
        self.wait_new_page(&old).await;
    }

    /// Presses Enter in the element `css` matches and waits for the next page.
    pub async fn enter_and_wait(&self, css: &str) {
        let old = self.page_id().await;
        let el = self.find(css).await;
        el.send_keys(&Key::Enter.to_string()).await.unwrap_or_else(|e| panic!("Enter in {css:?}: {e}"));
        self.wait_new_page(&old).await;
    }

    /// An identity of the loaded document (its `<html>` element's WebDriver reference).
    async fn page_id(&self) -> String {
        let html = self.client.find(Locator::Css("html")).await.expect("html element");
        html.element_id().to_string()
    }

    /// Waits until the document is no longer the one of `old` and the new one has loaded.
    pub async fn wait_new_page(&self, old: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(html) = self.client.find(Locator::Css("html")).await {
                if html.element_id().to_string() != old {
                    break;
                }
            }
            assert!(Instant::now() < deadline, "no new page within {WAIT:?} (still {})", self.path().await);
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        self.wait_loaded().await;
    }

    /// Presses (and releases) `key` on whatever has the focus.
    pub async fn press(&self, key: Key) {
        let c: char = key.into();
        let keys =
            KeyActions::new("keyboard".to_string()).then(KeyAction::Down { value: c }).then(KeyAction::Up { value: c });
        self.client.perform_actions(keys).await.unwrap_or_else(|e| panic!("press {key:?}: {e}"));
    }

    /// Types `text` on whatever has the focus.
    pub async fn type_text(&self, text: &str) {
        let mut keys = KeyActions::new("keyboard".to_string());
        for c in text.chars() {
            keys = keys.then(KeyAction::Down { value: c }).then(KeyAction::Up { value: c });
        }
        self.client.perform_actions(keys).await.unwrap_or_else(|e| panic!("type {text:?}: {e}"));
    }

    /// The `name` (else `id`, else tag) of the focused element.
    pub async fn focused(&self) -> String {
        let v = self
            .client
            .execute(
                "const e = document.activeElement; return e ? (e.getAttribute('name') || e.id || e.tagName.toLowerCase()) : '';",
                vec![],
            )
            .await
            .expect("activeElement");
        v.as_str().unwrap_or_default().to_string()
    }

    /// Runs `script` (a function body: `return …`) in the page and returns its value.
    pub async fn js(&self, script: &str) -> serde_json::Value {
        self.client.execute(script, vec![]).await.unwrap_or_else(|e| panic!("script {script:?}: {e}"))
    }

    /// The value of the cookie `name`.
    pub async fn cookie(&self, name: &str) -> String {
        let c = self.client.get_named_cookie(name).await.unwrap_or_else(|e| panic!("cookie {name}: {e}"));
        c.value().to_string()
    }

    /// The page's HTML source.
    pub async fn source(&self) -> String {
        self.client.source().await.expect("page source")
    }

    /// Logs in through `/login` (the form `login-form`) and waits for the next page.
    pub async fn login(&self, username: &str, password: &str) {
        self.goto("/login").await;
        self.submit_form("login-form", &[("username", username), ("password", password)]).await;
    }

    /// Saves a screenshot of the page as `DIR/<name>.png` when `BIRCH_WEB_SCREENSHOTS=DIR`.
    pub async fn shot(&self, name: &str) {
        let Some(dir) = &self.shots else { return };
        std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let png = self.client.screenshot().await.unwrap_or_else(|e| panic!("screenshot {name}: {e}"));
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }

    /// Saves `target/web-failures/<test>.png` and `.html` (best effort: the session may be
    /// what failed).
    async fn save_failure(&self) {
        let dir = target_dir().join("web-failures");
        if std::fs::create_dir_all(&dir).is_err() {
            return;
        }
        if let Ok(Ok(png)) = tokio::time::timeout(WAIT, self.client.screenshot()).await {
            let _ = std::fs::write(dir.join(format!("{}.png", self.test)), png);
        }
        if let Ok(Ok(html)) = tokio::time::timeout(WAIT, self.client.source()).await {
            let _ = std::fs::write(dir.join(format!("{}.html", self.test)), html);
        }
        eprintln!("{}: screenshot and page source in {}", self.test, dir.display());
    }
}

/// An HTTP/1.1 request to 127.0.0.1:`port` outside the browser (no CSRF token, no
/// SameSite): returns the status code and the whole response. `cookie` is sent as the
/// `Cookie` header when given; `form` (urlencoded) makes it a POST.
pub fn raw_http(port: u16, method: &str, path: &str, cookie: Option<&str>, form: Option<&str>) -> (u16, String) {
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap_or_else(|e| panic!("connect {port}: {e}"));
    c.set_read_timeout(Some(WAIT)).expect("timeout");
    c.set_write_timeout(Some(WAIT)).expect("timeout");
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    if let Some(cookie) = cookie {
        req.push_str(&format!("Cookie: {cookie}\r\n"));
    }
    let body = form.unwrap_or("");
    if form.is_some() {
        req.push_str(&format!("Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    req.push_str(body);
    c.write_all(req.as_bytes()).expect("send request");
    let mut out = Vec::new();
    let _ = c.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, text)
}
