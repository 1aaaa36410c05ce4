//! Black-box HTTP tests of the web pages (issue 26, docs/web.md): the real server with
//! `[web] listen` on a free loopback port, driven with reqwest (a cookie jar, no redirects
//! followed, so every 303 is checked), and LDAP (ldap3) to check what the pages did.
mod common;

use common::demo::{ALICE, BOB, HANA, HANA_PW};
use common::{add_helpdesk_member, bind_rc, bounded, connect_as, free_port, listening, Server, ROOT_DN, ROOT_PW};
use ldap3::Mod;
use reqwest::header::{HeaderMap, ACCEPT_LANGUAGE, LOCATION, SET_COOKIE};
use reqwest::StatusCode;
use std::collections::HashSet;
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(60);

/// A server with the web pages on a free port.
fn start(extra: &str) -> (Server, u16) {
    let port = free_port();
    let server = Server::start_with(&format!("[web]\nlisten = \"127.0.0.1:{port}\"\n{extra}\n"), true);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !listening(port) {
        assert!(Instant::now() < deadline, "the web listener did not come up");
        std::thread::sleep(Duration::from_millis(20));
    }
    (server, port)
}

/// One browser: a cookie jar, redirects not followed.
struct Browser {
    http: reqwest::Client,
    base: String,
}

/// A response: status, headers, body.
struct Page {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Page {
    fn location(&self) -> &str {
        self.headers.get(LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    /// The value of the first hidden `csrf` input.
    fn csrf(&self) -> String {
        let at = self.body.find("name=\"csrf\" value=\"").unwrap_or_else(|| panic!("no csrf field in {}", self.body));
        let rest = &self.body[at + "name=\"csrf\" value=\"".len()..];
        rest[..rest.find('"').unwrap()].to_string()
    }

    /// The text of the element with `id`.
    fn by_id(&self, id: &str) -> Option<String> {
        let at = self.body.find(&format!("id=\"{id}\""))?;
        let rest = &self.body[at..];
        let start = rest.find('>')? + 1;
        let end = rest[start..].find('<')?;
        Some(rest[start..start + end].to_string())
    }

    fn error(&self) -> Option<String> {
        let at = self.body.find("class=\"error\" role=\"alert\">")?;
        let rest = &self.body[at + "class=\"error\" role=\"alert\">".len()..];
        Some(rest[..rest.find('<')?].to_string())
    }

    fn notice(&self) -> Option<String> {
        let at = self.body.find("class=\"notice\" role=\"status\">")?;
        let rest = &self.body[at + "class=\"notice\" role=\"status\">".len()..];
        Some(rest[..rest.find('<')?].to_string())
    }
}

impl Browser {
    fn new(port: u16) -> Browser {
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        Browser { http, base: format!("http://127.0.0.1:{port}") }
    }

    async fn page(r: reqwest::RequestBuilder) -> Page {
        let res = r.send().await.expect("request");
        let (status, headers) = (res.status(), res.headers().clone());
        Page { status, headers, body: res.text().await.unwrap_or_default() }
    }

    async fn get(&self, path: &str) -> Page {
        Browser::page(self.http.get(format!("{}{path}", self.base))).await
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> Page {
        Browser::page(self.http.post(format!("{}{path}", self.base)).form(form)).await
    }

    /// Logs in through the form; the response to the POST.
    async fn login(&self, user: &str, pw: &str) -> Page {
        let form = self.get("/login").await;
        assert_eq!(form.status, StatusCode::OK, "{}", form.body);
        self.post("/login", &[("username", user), ("password", pw), ("csrf", &form.csrf())]).await
    }

    /// Logs in and expects to land on `to`.
    async fn login_to(&self, user: &str, pw: &str, to: &str) {
        let r = self.login(user, pw).await;
        assert_eq!((r.status, r.location()), (StatusCode::SEE_OTHER, to), "{}", r.body);
    }

    /// A form page's token (the first form of `path`).
    async fn csrf(&self, path: &str) -> String {
        let p = self.get(path).await;
        assert_eq!(p.status, StatusCode::OK, "{path}: {}", p.body);
        p.csrf()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn login_shows_my_account_and_groups() {
    let (_s, port) = start("");
    bounded(LIMIT, async {
        let b = Browser::new(port);
        b.login_to("alice", "alice-secret", "/account").await;
        let p = b.get("/account").await;
        assert_eq!(p.status, StatusCode::OK);
        assert_eq!(p.by_id("whoami").as_deref(), Some("alice"));
        // Personal data the owner may read, and groups of both kinds.
        assert!(p.body.contains("alice@example.org"), "{}", p.body);
        assert!(p.body.contains("<li>staff</li>") && p.body.contains("<li>it-admins</li>"), "{}", p.body);
        assert!(p.body.contains("id=\"account-form\"") && p.body.contains("name=\"loginShell\""));
        assert!(!p.body.to_ascii_lowercase().contains("userpassword"));
        // A DN logs in as well; `/` leads to the account page once logged in.
        let b2 = Browser::new(port);
        b2.login_to(BOB, "bob-secret", "/account").await;
        assert_eq!(b2.get("/").await.location(), "/account");
        assert_eq!(b2.get("/account").await.by_id("whoami").as_deref(), Some("bob"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_passwords_lock_the_account_for_ldap_too() {
    let (s, port) = start("[ppolicy]\nmax_failure = 3\nlockout_duration = 0");
    let url = s.url();
    bounded(LIMIT, async {
        let b = Browser::new(port);
        for _ in 0..3 {
            let r = b.login("bob", "wrong").await;
            assert_eq!(r.status, StatusCode::UNAUTHORIZED);
            assert_eq!(r.error().as_deref(), Some("The user name or password is wrong."));
            assert!(!r.body.contains("wrong\""), "the password is never sent back");
        }
        // The failures counted against the entry: locked for LDAP binds as well.
        assert_eq!(bind_rc(&url, BOB, "bob-secret").await, 49);
        let r = b.login("bob", "bob-secret").await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert!(r.error().unwrap().contains("locked"), "{}", r.body);
        // An unknown name fails as a wrong password does.
        let r = b.login("nobody", "whatever").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_password_change_works_for_ldap() {
    let (s, port) = start("");
    let url = s.url();
    bounded(LIMIT, async {
        let b = Browser::new(port);
        b.login_to("bob", "bob-secret", "/account").await;
        let p = b.get("/password").await;
        assert!(p.body.contains("At least 8 characters."), "the policy is shown: {}", p.body);
        let csrf = p.csrf();
        let r = b
            .post("/password", &[("current", "bob-secret"), ("new", "short"), ("confirm", "short"), ("csrf", &csrf)])
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert!(r.error().unwrap().starts_with("The new password is too short."), "{}", r.body);
        let r = b
            .post(
                "/password",
                &[("current", "nope-nope"), ("new", "Blue-Kettle-42"), ("confirm", "Blue-Kettle-42"), ("csrf", &csrf)],
            )
            .await;
        assert_eq!(r.error().as_deref(), Some("The current password is wrong."));
        let new = "correct horse battery staple 7";
        let r =
            b.post("/password", &[("current", "bob-secret"), ("new", new), ("confirm", new), ("csrf", &csrf)]).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.notice().as_deref(), Some("Your password is changed."));
        assert!(r.body.contains("<meter"), "strength feedback: {}", r.body);
        assert!(!r.body.contains(new), "no password in a page");
        assert_eq!(bind_rc(&url, BOB, new).await, 0);
        assert_eq!(bind_rc(&url, BOB, "bob-secret").await, 49);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_post_without_csrf_is_refused_and_changes_nothing() {
    let (s, port) = start("");
    let url = s.url();
    bounded(LIMIT, async {
        let b = Browser::new(port);
        b.login_to("bob", "bob-secret", "/account").await;
        let new = "another fine passphrase";
        let r = b.post("/password", &[("current", "bob-secret"), ("new", new), ("confirm", new)]).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        let r =
            b.post("/password", &[("current", "bob-secret"), ("new", new), ("confirm", new), ("csrf", "0000")]).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert_eq!(bind_rc(&url, BOB, "bob-secret").await, 0);
        let r = b.post("/account", &[("loginShell", "/bin/sh")]).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        let r = b.post("/logout", &[]).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert_eq!(b.get("/account").await.status, StatusCode::OK, "still logged in");
        // The login form needs its token too.
        let r = Browser::new(port).post("/login", &[("username", "bob"), ("password", "bob-secret")]).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        let shell = common::root_values(&url, BOB, "loginShell").await;
        assert_eq!(shell, vec!["/bin/bash"]);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_script_display_name_is_shown_as_text() {
    let (s, port) = start("");
    let url = s.url();
    bounded(LIMIT, async {
        let b = Browser::new(port);
        b.login_to("alice", "alice-secret", "/account").await;
        let csrf = b.csrf("/account").await;
        let evil = "<script>alert(1)</script>";
        let r = b.post("/account", &[("displayName", evil), ("loginShell", "/bin/zsh"), ("csrf", &csrf)]).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.notice().as_deref(), Some("Your changes are saved."), "{}", r.body);
        assert_eq!(common::root_values(&url, ALICE, "displayName").await, vec![evil]);
        assert_eq!(common::root_values(&url, ALICE, "loginShell").await, vec!["/bin/zsh"]);
        let p = b.get("/account").await;
        assert!(!p.body.contains("<script>"), "{}", p.body);
        assert!(
            p.body.contains("&#60;script&#62;alert(1)&#60;/script&#62;") || p.body.contains("&lt;script&gt;"),
            "{}",
            p.body
        );
        // An attribute the rules do not let her change is refused.
        let r = b.post("/account", &[("mail", "x@example.org"), ("csrf", &csrf)]).await;
        assert!(r.error().is_some(), "{}", r.body);
        assert_eq!(common::root_values(&url, ALICE, "mail").await, vec!["alice@example.org"]);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_value_of_an_attribute_gets_a_field_and_none_is_lost() {
    let (s, port) = start("");
    let url = s.url();
    bounded(LIMIT, async {
        let phones = ["+86 10 1111", "+86 10 2222"];
        let mut root = connect_as(&url, ROOT_DN, ROOT_PW).await;
        let set = Mod::Replace("telephoneNumber", HashSet::from(phones));
        root.modify(ALICE, vec![set]).await.expect("modify").success().expect("two phone numbers");
        let b = Browser::new(port);
        b.login_to("alice", "alice-secret", "/account").await;
        let p = b.get("/account").await;
        for phone in phones {
            assert!(p.body.contains(&format!("value=\"{phone}\"")), "{}", p.body);
        }
        let sorted = |mut v: Vec<String>| {
            v.sort();
            v
        };
        // Changing the shell sends both numbers back as they were: both stay.
        let csrf = b.csrf("/account").await;
        let form = [("telephoneNumber", phones[0]), ("telephoneNumber", phones[1]), ("loginShell", "/bin/zsh")];
        let r = b.post("/account", &[form[0], form[1], form[2], ("csrf", &csrf)]).await;
        assert_eq!(r.notice().as_deref(), Some("Your changes are saved."), "{}", r.body);
        assert_eq!(sorted(common::root_values(&url, ALICE, "telephoneNumber").await), phones);
        assert_eq!(common::root_values(&url, ALICE, "loginShell").await, vec!["/bin/zsh"]);
        // Emptying one field removes that number only.
        let r = b.post("/account", &[("telephoneNumber", phones[0]), ("telephoneNumber", ""), ("csrf", &csrf)]).await;
        assert_eq!(r.notice().as_deref(), Some("Your changes are saved."), "{}", r.body);
        assert_eq!(common::root_values(&url, ALICE, "telephoneNumber").await, vec![phones[0]]);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_response_has_the_security_headers() {
    let (_s, port) = start("");
    bounded(LIMIT, async {
        let b = Browser::new(port);
        for path in ["/login", "/static/style.css", "/nowhere"] {
            let p = b.get(path).await;
            let h = |n: &str| p.headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
            let csp = h("content-security-policy");
            assert!(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
            assert!(!csp.contains("unsafe-inline"));
            assert_eq!(h("x-frame-options"), "DENY");
            assert_eq!(h("x-content-type-options"), "nosniff");
            assert_eq!(h("referrer-policy"), "no-referrer");
            assert!(p.headers.get("strict-transport-security").is_none(), "no HSTS over plain HTTP");
        }
        assert_eq!(b.get("/nowhere").await.status, StatusCode::NOT_FOUND);
        let r = b.login("bob", "bob-secret").await;
        let cookie = r
            .headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.starts_with("birch_session="))
            .expect("a session cookie")
            .to_string();
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
        let id = cookie.trim_start_matches("birch_session=").split(';').next().unwrap();
        assert_eq!(id.len(), 64, "256 random bits");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn chinese_pages_by_header_and_by_choice() {
    let (_s, port) = start("");
    bounded(LIMIT, async {
        let b = Browser::new(port);
        let p =
            Browser::page(b.http.get(format!("{}/login", b.base)).header(ACCEPT_LANGUAGE, "zh-CN,zh;q=0.9,en;q=0.5"))
                .await;
        assert!(p.body.contains("<html lang=\"zh-CN\">") && p.body.contains("用户名"), "{}", p.body);
        assert!(b.get("/login").await.body.contains("<html lang=\"en\">"));
        let p = b.get("/login?lang=zh-CN").await;
        assert!(p.body.contains("<html lang=\"zh-CN\">"));
        let set: Vec<&str> = p.headers.get_all(SET_COOKIE).iter().filter_map(|v| v.to_str().ok()).collect();
        assert!(set.iter().any(|c| c.starts_with("birch_lang=zh-CN")), "{set:?}");
        // Remembered by the cookie.
        let p = b.get("/login").await;
        assert!(p.body.contains("<html lang=\"zh-CN\">"));
        let r = b.login("chenwei", "wrong").await;
        assert_eq!(r.error().as_deref(), Some("用户名或密码错误。"));
        b.login_to("chenwei", "chenwei-secret", "/account").await;
        let p = b.get("/account").await;
        assert!(p.body.contains("<html lang=\"zh-CN\">") && p.body.contains("<h1>我的账户</h1>"), "{}", p.body);
        assert!(p.body.contains("陈伟"), "{}", p.body);
        assert!(b.get("/password").await.body.contains("至少 8 个字符。"));
        // Switched back, remembered again.
        assert!(b.get("/account?lang=en").await.body.contains("<h1>My account</h1>"));
        assert!(b.get("/password").await.body.contains("<html lang=\"en\">"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn anonymous_visitors_get_only_the_login_page() {
    let (_s, port) = start("");
    bounded(LIMIT, async {
        let b = Browser::new(port);
        for path in ["/", "/account", "/password", "/helpdesk", "/helpdesk/user/bob", "/audit"] {
            let p = b.get(path).await;
            assert_eq!((p.status, p.location()), (StatusCode::SEE_OTHER, "/login"), "{path}");
        }
        let r = b.post("/helpdesk/user/bob/unlock", &[("csrf", "x")]).await;
        assert_eq!((r.status, r.location()), (StatusCode::SEE_OTHER, "/login"));
        // An ordinary person gets 403 on the helpdesk and the audit view.
        b.login_to("bob", "bob-secret", "/account").await;
        assert_eq!(b.get("/helpdesk").await.status, StatusCode::FORBIDDEN);
        assert_eq!(b.get("/helpdesk/user/alice").await.status, StatusCode::FORBIDDEN);
        assert_eq!(b.get("/audit").await.status, StatusCode::FORBIDDEN);
        // Logging out ends the session.
        let csrf = b.csrf("/account").await;
        let r = b.post("/logout", &[("csrf", &csrf)]).await;
        assert_eq!((r.status, r.location()), (StatusCode::SEE_OTHER, "/login"));
        assert_eq!(b.get("/account").await.location(), "/login");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reset_by_the_root_dn_sends_the_person_to_change_first() {
    let (s, port) = start("");
    let url = s.url();
    bounded(LIMIT, async {
        let mut root = connect_as(&url, ROOT_DN, ROOT_PW).await;
        let set = Mod::Replace("userPassword", HashSet::from(["temporary-1234"]));
        assert_eq!(root.modify(BOB, vec![set]).await.unwrap().rc, 0);
        let b = Browser::new(port);
        b.login_to("bob", "temporary-1234", "/password").await;
        // Nothing else until the password is changed.
        assert_eq!(b.get("/account").await.location(), "/password");
        let p = b.get("/password").await;
        assert!(p.error().is_some_and(|e| e.contains("reset")), "{}", p.body);
        let new = "my very own passphrase";
        let r = b
            .post("/password", &[("current", "temporary-1234"), ("new", new), ("confirm", new), ("csrf", &p.csrf())])
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(b.get("/account").await.status, StatusCode::OK);
        assert_eq!(bind_rc(&url, BOB, new).await, 0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_helpdesk_resets_unlocks_and_disables() {
    let (s, port) = start("[ppolicy]\nmax_failure = 2\nlockout_duration = 0");
    let url = s.url();
    bounded(LIMIT, async {
        add_helpdesk_member(&url).await;
        let desk = Browser::new(port);
        desk.login_to("hana", HANA_PW, "/account").await;
        let p = desk.get("/helpdesk?q=bo").await;
        assert_eq!(p.status, StatusCode::OK);
        assert!(p.body.contains("href=\"/helpdesk/user/bob\""), "{}", p.body);
        assert!(!p.body.contains("/audit\""), "no audit view for the helpdesk");
        // Reset: a temporary password shown once, which must be changed at the next login.
        let csrf = desk.csrf("/helpdesk/user/bob").await;
        let r = desk.post("/helpdesk/user/bob/reset", &[("csrf", &csrf)]).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let temp = r.by_id("temporary-password").expect("the temporary password");
        assert_eq!(temp.len(), 16);
        assert!(desk.get("/helpdesk/user/bob").await.by_id("temporary-password").is_none(), "shown once");
        let bob = Browser::new(port);
        bob.login_to("bob", &temp, "/password").await;
        let p = bob.get("/password").await;
        let new = "bob chose this one";
        let r = bob.post("/password", &[("current", &temp), ("new", new), ("confirm", new), ("csrf", &p.csrf())]).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(bind_rc(&url, BOB, &temp).await, 49, "the temporary password works once");
        // One more wrong password (the temporary one above was the first) locks bob; the
        // helpdesk unlocks.
        assert_eq!(Browser::new(port).login("bob", "wrong").await.status, StatusCode::UNAUTHORIZED);
        assert_eq!(Browser::new(port).login("bob", new).await.status, StatusCode::FORBIDDEN);
        assert_eq!(bind_rc(&url, BOB, new).await, 49);
        assert!(desk.get("/helpdesk/user/bob").await.by_id("status").unwrap().contains("locked"));
        let r = desk.post("/helpdesk/user/bob/unlock", &[("csrf", &csrf)]).await;
        assert_eq!(r.notice().as_deref(), Some("Done."), "{}", r.body);
        assert_eq!(bind_rc(&url, BOB, new).await, 0);
        // Disable needs a reason; the disabled person's web session ends.
        let bob = Browser::new(port);
        bob.login_to("bob", new, "/account").await;
        let r = desk.post("/helpdesk/user/bob/disable", &[("csrf", &csrf), ("reason", "")]).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        let r = desk.post("/helpdesk/user/bob/disable", &[("csrf", &csrf), ("reason", "left the campus")]).await;
        assert_eq!(r.notice().as_deref(), Some("Done."), "{}", r.body);
        assert!(r.body.contains("left the campus"));
        assert_eq!(bind_rc(&url, BOB, new).await, 49);
        assert_eq!(bob.get("/account").await.location(), "/login");
        let r = desk.post("/helpdesk/user/bob/enable", &[("csrf", &csrf)]).await;
        assert_eq!(r.notice().as_deref(), Some("Done."));
        assert_eq!(bind_rc(&url, BOB, new).await, 0);
        // Group membership is the admins' under the campus policy: the helpdesk is refused
        // as over LDAP, an admin (alice) adds and removes (a posixGroup: memberUid).
        let r = desk.post("/helpdesk/user/bob/groups", &[("csrf", &csrf), ("add", "students")]).await;
        assert!(r.error().is_some_and(|e| e.contains("insufficient access")), "{}", r.body);
        assert!(!common::root_values(&url, common::demo::STUDENTS, "memberUid").await.contains(&"bob".to_string()));
        let admin = Browser::new(port);
        admin.login_to("alice", "alice-secret", "/account").await;
        let csrf = admin.csrf("/helpdesk/user/bob").await;
        let r = admin.post("/helpdesk/user/bob/groups", &[("csrf", &csrf), ("add", "students")]).await;
        assert_eq!(r.notice().as_deref(), Some("Done."), "{}", r.body);
        assert!(r.body.contains("<li>students"), "{}", r.body);
        assert!(common::root_values(&url, common::demo::STUDENTS, "memberUid").await.contains(&"bob".to_string()));
        let r = admin.post("/helpdesk/user/bob/groups", &[("csrf", &csrf), ("remove", "students")]).await;
        assert_eq!(r.notice().as_deref(), Some("Done."));
        assert!(!common::root_values(&url, common::demo::STUDENTS, "memberUid").await.contains(&"bob".to_string()));
        // The helpdesk cannot reach what the rules keep from it: the admins' audit view.
        assert_eq!(desk.get("/audit").await.status, StatusCode::FORBIDDEN);
        let _ = HANA;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn admins_read_the_audit_log() {
    let (_s, port) = start("");
    bounded(LIMIT, async {
        let b = Browser::new(port);
        assert_eq!(Browser::new(port).login("bob", "wrong").await.status, StatusCode::UNAUTHORIZED);
        b.login_to("alice", "alice-secret", "/account").await;
        let p = b.get(&format!("/audit?person={}", BOB.replace(',', "%2C").replace('=', "%3D"))).await;
        assert_eq!(p.status, StatusCode::OK, "{}", p.body);
        assert!(p.body.contains("bind_failed"), "{}", p.body);
        let p = b.get("/audit?since=not-a-time").await;
        assert_eq!(p.status, StatusCode::BAD_REQUEST);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idle_session_expires() {
    let (_s, port) = start("idle_timeout_secs = 1");
    bounded(LIMIT, async {
        let b = Browser::new(port);
        b.login_to("bob", "bob-secret", "/account").await;
        assert_eq!(b.get("/account").await.status, StatusCode::OK);
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(b.get("/account").await.location(), "/login");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_large_body_is_refused() {
    let (_s, port) = start("");
    bounded(LIMIT, async {
        let b = Browser::new(port);
        let csrf = b.csrf("/login").await;
        let big = "x".repeat(20 * 1024);
        let r = b.post("/login", &[("username", &big), ("password", "p"), ("csrf", &csrf)]).await;
        assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    })
    .await;
}

#[test]
fn plain_http_off_loopback_is_refused_at_start() {
    let s = Server::offline("[web]\nlisten = \"0.0.0.0:18389\"");
    let mut child = std::process::Command::new(common::birch_bin())
        .arg("serve")
        .arg("--config")
        .arg(s.config_path())
        .env("BIRCH_ROOT_PASSWORD", ROOT_PW)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn birch");
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the start was not refused");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("output");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("web.listen: 0.0.0.0:18389 is not a loopback address"), "{err}");
    assert!(!s.data_dir().exists(), "nothing created: {err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn https_pages_have_hsts_and_secure_cookies() {
    let dir = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    let (crt, key) = (dir.path().join("web.crt"), dir.path().join("web.key"));
    std::fs::write(&crt, cert.cert.pem()).unwrap();
    std::fs::write(&key, cert.signing_key.serialize_pem()).unwrap();
    let port = free_port();
    let extra = format!(
        "[tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\n[web]\nlisten = \"127.0.0.1:{port}\"\n",
        crt.display(),
        key.display()
    );
    let _s = Server::start_with(&extra, true);
    bounded(LIMIT, async {
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .danger_accept_invalid_certs(true)
            .build()
            .unwrap();
        let b = Browser { http, base: format!("https://127.0.0.1:{port}") };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !listening(port) {
            assert!(Instant::now() < deadline, "the web listener did not come up");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let p = b.get("/login").await;
        assert_eq!(p.status, StatusCode::OK);
        assert!(p.headers.get("strict-transport-security").is_some());
        let r = b.login("bob", "bob-secret").await;
        assert_eq!(r.location(), "/account", "{}", r.body);
        let cookies: Vec<&str> = r.headers.get_all(SET_COOKIE).iter().filter_map(|v| v.to_str().ok()).collect();
        assert!(cookies.iter().all(|c| c.contains("; Secure")), "{cookies:?}");
        assert_eq!(b.get("/account").await.by_id("whoami").as_deref(), Some("bob"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_password_logs_in_with_grace_to_the_change_page() {
    let (s, port) = start("[ppolicy]\nmax_age = 1\ngrace_authn_limit = 2");
    let url = s.url();
    bounded(LIMIT, async {
        // A change starts the clock (pwdChangedTime); a second later the password has expired.
        let mut bob = connect_as(&url, BOB, "bob-secret").await;
        let change = ldap3::exop::PasswordModify {
            user_id: None,
            old_pass: Some("bob-secret"),
            new_pass: Some("soon expired 1"),
        };
        assert_eq!(bob.extended(change).await.unwrap().1.rc, 0);
        tokio::time::sleep(Duration::from_millis(2100)).await;
        let b = Browser::new(port);
        b.login_to("bob", "soon expired 1", "/password").await;
        assert_eq!(b.get("/account").await.location(), "/password");
        let p = b.get("/password").await;
        let notice = p.notice().unwrap_or_else(|| panic!("grace logins shown: {}", p.body));
        assert!(notice.contains("Logins left before the account is locked: 1"), "{notice}");
        let new = "a fresh passphrase 2";
        let r = b
            .post("/password", &[("current", "soon expired 1"), ("new", new), ("confirm", new), ("csrf", &p.csrf())])
            .await;
        assert_eq!(r.notice().as_deref(), Some("Your password is changed."), "{}", r.body);
        assert_eq!(b.get("/account").await.status, StatusCode::OK);
        // Without grace logins left, an expired password is refused with a clear message.
        tokio::time::sleep(Duration::from_millis(2100)).await;
        for _ in 0..2 {
            assert_eq!(bind_rc(&url, BOB, new).await, 0, "grace binds");
        }
        let r = Browser::new(port).login("bob", new).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert_eq!(r.error().as_deref(), Some("Your password has expired. Ask the helpdesk for a new one."));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_web_logins_count_in_the_ldap_rate_limits() {
    let (s, port) = start("[rate_limit]\nper_address_burst = 3\nper_address_per_minute = 0.5");
    let url = s.url();
    bounded(LIMIT, async {
        let b = Browser::new(port);
        for user in ["bob", "alice", "chenwei"] {
            assert_eq!(b.login(user, "wrong").await.status, StatusCode::UNAUTHORIZED);
        }
        // The address (127.0.0.1, also the LDAP client's here) is out of failures: the web
        // says so, and an LDAP bind from it is throttled too, right password or not.
        let r = b.login("bob", "bob-secret").await;
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
        assert_eq!(r.error().as_deref(), Some("Too many failed logins. Wait a few minutes and try again."));
        assert_eq!(bind_rc(&url, ALICE, "alice-secret").await, 49);
    })
    .await;
}
