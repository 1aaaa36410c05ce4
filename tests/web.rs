//! The web pages (issue 26, item 6) in a real browser: headless Chromium driven over
//! WebDriver (tests/common/browser.rs) against the real `birch` binary with `[web] listen`
//! on a free loopback port and the demo campus. What the browser does is checked over LDAP
//! too: a password changed on the page binds, one refused by a CSRF check does not.
//!
//! The pages follow the contract the `web` and `webdriver` helpers share (ids `login-form`,
//! `password-form`, `account-form`, `logout-form`, `whoami`, `temporary-password`; errors
//! in `.error[role=alert]`, success in `.notice[role=status]`).
#[path = "common/browser.rs"]
mod browser;
mod common;

use browser::{raw_http, run, web_server, Browser, Viewport};
use common::demo::{BOB, CHENWEI, HANA_PW};
use common::{add_helpdesk_member, bind_rc, bounded, connect_as, root_values, ROOT_DN, ROOT_PW};
use fantoccini::key::Key;
use ldap3::Mod;
use std::collections::HashSet;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(120);
/// A new password the built-in policy accepts (length, quality, not in the history).
const NEW_PW: &str = "Birch-web-2026!new";
/// A lockout after three failures, held for ten minutes.
const LOCKOUT: &str = "[ppolicy]\nmax_failure = 3\nlockout_duration = 600\nfailure_count_interval = 600\n";

/// Logs in as `uid` and asserts that the account page says who is logged in.
async fn login_ok(b: &Browser, uid: &str, pw: &str) {
    b.login(uid, pw).await;
    assert_eq!(b.text("#whoami").await.trim(), uid, "logged in as {uid} (page {})", b.path().await);
}

/// Logs out with the logout form and asserts that the login page is back.
async fn logout(b: &Browser) {
    b.click_and_wait("#logout-form button[type=\"submit\"]").await;
    b.find("#login-form").await;
}

/// The text of the page's alert (`.error[role=alert]`).
async fn alert(b: &Browser) -> String {
    b.text(".error[role=\"alert\"]").await
}

/// Replaces `attr` of `dn` with `value` as the root DN.
async fn root_set(url: &str, dn: &str, attr: &str, value: &str) {
    let mut root = connect_as(url, ROOT_DN, ROOT_PW).await;
    let res = root.modify(dn, vec![Mod::Replace(attr, HashSet::from([value]))]).await.expect("modify");
    assert_eq!(res.rc, 0, "set {attr} of {dn}: {res}");
}

/// Asserts that no script of the display name payload ran on `page` and that it made no element.
async fn no_script_ran(b: &Browser, page: &str) {
    assert_eq!(b.js("return typeof window.__xss;").await, "undefined", "no script ran on {page}");
    let injected = b.js("return document.querySelectorAll('script:not([src]), img[src=\"x\"]').length;").await;
    assert_eq!(injected, 0, "no element from the display name on {page}");
}

/// Whether the page scrolls sideways (wider content than the viewport).
async fn scrolls_sideways(b: &Browser) -> bool {
    let v = b.js("return document.documentElement.scrollWidth > document.documentElement.clientWidth;").await;
    v.as_bool().unwrap_or(true)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_shows_who_is_logged_in_and_logout_ends_the_session() {
    const T: &str = "login_shows_who_is_logged_in_and_logout_ends_the_session";
    if !browser::available(T) {
        return;
    }
    let (_s, port) = web_server("", true);
    bounded(
        LIMIT,
        run(T, port, Viewport::Desktop, |b| async move {
            b.goto("/").await;
            assert!(b.path().await.starts_with("/login"), "/ sends a stranger to the login page: {}", b.path().await);
            b.find("#login-form").await;
            b.shot("login").await;
            login_ok(&b, "chenwei", "chenwei-secret").await;
            assert_eq!(b.path().await, "/account");
            b.shot("account").await;
            b.goto("/").await;
            assert_eq!(b.path().await, "/account", "/ sends a logged-in person to the account page");
            logout(&b).await;
            b.goto("/account").await;
            assert!(!b.has("#whoami").await, "the account page after logout");
            assert!(b.path().await.starts_with("/login"), "after logout /account asks to log in: {}", b.path().await);
            // A DN works as the user name too.
            b.login(BOB, "bob-secret").await;
            assert_eq!(b.text("#whoami").await.trim(), "bob");
        }),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_gets_a_plain_message_and_reveals_nothing() {
    const T: &str = "a_wrong_password_gets_a_plain_message_and_reveals_nothing";
    if !browser::available(T) {
        return;
    }
    let (_s, port) = web_server("", true);
    bounded(
        LIMIT,
        run(T, port, Viewport::Desktop, |b| async move {
            b.login("bob", "not-bobs-password").await;
            let wrong = alert(&b).await;
            assert!(!wrong.trim().is_empty(), "an error message");
            assert!(!b.has("#whoami").await, "not logged in");
            b.find("#login-form").await;
            let (url, source) = (b.path().await, b.source().await);
            assert!(
                !url.contains("not-bobs-password") && !source.contains("not-bobs-password"),
                "the password is not echoed"
            );
            // An unknown person gets the very same message (no guessing of user names).
            b.login("nobody-here", "not-bobs-password").await;
            assert_eq!(alert(&b).await, wrong, "unknown user and wrong password answer alike");
        }),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_web_logins_lock_the_account_and_the_page_says_so() {
    const T: &str = "failed_web_logins_lock_the_account_and_the_page_says_so";
    if !browser::available(T) {
        return;
    }
    let (s, port) = web_server(LOCKOUT, true);
    let url = s.url();
    bounded(
        LIMIT,
        run(T, port, Viewport::Desktop, |b| async move {
            let mut wrong = String::new();
            for i in 0..3 {
                b.login("bob", &format!("wrong-{i}")).await;
                wrong = alert(&b).await;
            }
            b.login("bob", "bob-secret").await;
            let locked = alert(&b).await;
            assert!(!b.has("#whoami").await, "a locked account does not log in");
            assert_ne!(locked, wrong, "the lockout has its own message");
            assert!(locked.to_lowercase().contains("lock"), "the message says the account is locked: {locked:?}");
            // The web failures counted in the same lockout as failed binds.
            assert_eq!(bind_rc(&url, BOB, "bob-secret").await, 49, "bob is locked over LDAP too");
        }),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_changed_on_the_page_binds_over_ldap_and_the_old_one_does_not() {
    const T: &str = "a_password_changed_on_the_page_binds_over_ldap_and_the_old_one_does_not";
    if !browser::available(T) {
        return;
    }
    let (s, port) = web_server("", true);
    let url = s.url();
    bounded(
        LIMIT,
        run(T, port, Viewport::Desktop, |b| async move {
            login_ok(&b, "bob", "bob-secret").await;
            b.goto("/password").await;
            b.find("#password-form").await;
            b.shot("password").await;
            b.submit_form("password-form", &[("current", "bob-secret"), ("new", NEW_PW), ("confirm", NEW_PW)]).await;
            let notice = b.text(".notice[role=\"status\"]").await;
            assert!(!notice.trim().is_empty(), "a success message");
            assert!(!b.source().await.contains(NEW_PW), "the new password is not on the page");
            assert_eq!(bind_rc(&url, BOB, NEW_PW).await, 0, "the new password binds");
            assert_eq!(bind_rc(&url, BOB, "bob-secret").await, 49, "the old one does not");
        }),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_helpdesk_reset_the_person_must_change_the_password_first() {
    const T: &str = "after_a_helpdesk_reset_the_person_must_change_the_password_first";
    if !browser::available(T) {
        return;
    }
    let (s, port) = web_server("", true);
    let url = s.url();
    add_helpdesk_member(&url).await;
    bounded(
        LIMIT,
        run(T, port, Viewport::Desktop, |b| async move {
            login_ok(&b, "hana", HANA_PW).await;
            b.goto("/helpdesk?q=chen").await;
            b.find("#helpdesk-search-form").await;
            assert!(b.text("main").await.contains("chenwei"), "the search finds chenwei");
            b.shot("helpdesk").await;
            b.goto("/helpdesk/user/chenwei").await;
            b.shot("helpdesk-user").await;
            b.click_and_wait("form[action$=\"/reset\"] button[type=\"submit\"]").await;
            let temporary = b.text("#temporary-password").await.trim().to_string();
            assert!(temporary.len() >= 8, "a temporary password: {temporary:?}");
            b.goto("/helpdesk/user/chenwei").await;
            assert!(!b.has("#temporary-password").await, "the temporary password is shown once");
            assert!(!b.source().await.contains(&temporary), "and only once");
            logout(&b).await;
            assert_eq!(root_values(&url, CHENWEI, "pwdReset").await, ["TRUE"], "the reset marks must-change");

            b.login("chenwei", &temporary).await;
            assert!(b.path().await.starts_with("/password"), "after the reset: the change page ({})", b.path().await);
            b.find("#password-form").await;
            for elsewhere in ["/account", "/helpdesk", "/"] {
                b.goto(elsewhere).await;
                assert!(
                    b.has("#password-form").await && !b.has("#account-form").await,
                    "{elsewhere} before the change shows the change page, not {}",
                    b.path().await
                );
            }
            b.goto("/password").await;
            b.submit_form("password-form", &[("current", &temporary), ("new", NEW_PW), ("confirm", NEW_PW)]).await;
            b.goto("/account").await;
            assert_eq!(b.path().await, "/account", "the account page after the change");
            assert_eq!(b.text("#whoami").await.trim(), "chenwei");
            assert_eq!(bind_rc(&url, CHENWEI, NEW_PW).await, 0, "the new password binds");
            assert_eq!(bind_rc(&url, CHENWEI, &temporary).await, 49, "the temporary one no more");
        }),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_helpdesk_unlocks_a_locked_account() {
    const T: &str = "the_helpdesk_unlocks_a_locked_account";
    if !browser::available(T) {
        return;
    }
    let (s, port) = web_server(LOCKOUT, true);
    let url = s.url();
    add_helpdesk_member(&url).await;
    for i in 0..3 {
        assert_eq!(bind_rc(&url, CHENWEI, &format!("wrong-{i}")).await, 49);
    }
    assert_eq!(bind_rc(&url, CHENWEI, "chenwei-secret").await, 49, "chenwei is locked");
    bounded(
        LIMIT,
        run(T, port, Viewport::Desktop, |b| async move {
            login_ok(&b, "hana", HANA_PW).await;
            b.goto("/helpdesk/user/chenwei").await;
            b.click_and_wait("form[action$=\"/unlock\"] button[type=\"submit\"]").await;
            let notice = b.text(".notice[role=\"status\"]").await;
            assert!(!notice.trim().is_empty(), "a success message");
            assert_eq!(bind_rc(&url, CHENWEI, "chenwei-secret").await, 0, "chenwei binds again");
        }),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_without_the_csrf_token_is_refused_and_changes_nothing() {
    const T: &str = "a_post_without_the_csrf_token_is_refused_and_changes_nothing";
    if !browser::available(T) {
        return;
    }
    let (s, port) = web_server("", true);
    let url = s.url();
    add_helpdesk_member(&url).await;
    bounded(
        LIMIT,
        run(T, port, Viewport::Desktop, |b| async move {
            login_ok(&b, "bob", "bob-secret").await;
            let cookie = format!("birch_session={}", b.cookie("birch_session").await);
            let attempts = [
                ("/account", "displayName=pwned".to_string()),
                ("/account", "displayName=pwned&csrf=forged".to_string()),
                ("/password", format!("current=bob-secret&new={NEW_PW}&confirm={NEW_PW}")),
                ("/logout", String::new()),
            ];
            for (path, form) in &attempts {
                let (status, _) = raw_http(port, "POST", path, Some(&cookie), Some(form));
                assert_eq!(status, 403, "POST {path} {form:?} without a valid token");
            }
            assert!(root_values(&url, BOB, "displayName").await.is_empty(), "displayName unchanged");
            assert_eq!(bind_rc(&url, BOB, "bob-secret").await, 0, "bob's password unchanged");
            b.goto("/account").await;
            assert_eq!(b.text("#whoami").await.trim(), "bob", "still logged in: the logout was refused");
            logout(&b).await;

            // The helpdesk's actions too.
            login_ok(&b, "hana", HANA_PW).await;
            let cookie = format!("birch_session={}", b.cookie("birch_session").await);
            for action in ["reset", "disable", "groups"] {
                let path = format!("/helpdesk/user/chenwei/{action}");
                let (status, body) = raw_http(port, "POST", &path, Some(&cookie), Some("reason=x&add=staff"));
                assert_eq!(status, 403, "POST {path} without a token");
                assert!(!body.contains("temporary-password"), "no password reset");
            }
            assert_eq!(bind_rc(&url, CHENWEI, "chenwei-secret").await, 0, "chenwei's password unchanged");
            assert!(root_values(&url, CHENWEI, "pwdReset").await.is_empty(), "no reset");
            assert_eq!(root_values(&url, "cn=staff,ou=groups,dc=example,dc=org", "memberUid").await.len(), 2);
        }),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_script_in_a_display_name_shows_as_text_and_never_runs() {
    const T: &str = "a_script_in_a_display_name_shows_as_text_and_never_runs";
    if !browser::available(T) {
        return;
    }
    const PAYLOAD: &str = "<script>window.__xss=1</script><img src=x onerror=\"window.__xss=2\">";
    let (s, port) = web_server("", true);
    let url = s.url();
    add_helpdesk_member(&url).await;
    root_set(&url, BOB, "displayName", PAYLOAD).await;
    bounded(LIMIT, run(T, port, Viewport::Desktop, |b| async move {
        login_ok(&b, "bob", "bob-secret").await;
        b.goto("/account").await;
        // Shown as text (an input's value counts: an editable displayName is a form field).
        let shown = b
            .js("return document.body.innerText + '\\n' + Array.from(document.querySelectorAll('input')).map(i => i.value).join('\\n');")
            .await;
        assert!(shown.as_str().unwrap_or_default().contains(PAYLOAD), "the display name shows as typed: {shown}");
        no_script_ran(&b, "/account").await;
        logout(&b).await;
        login_ok(&b, "hana", HANA_PW).await;
        for page in ["/helpdesk/user/bob", "/helpdesk?q=bob"] {
            b.goto(page).await;
            assert!(b.text("main").await.contains("bob"), "{page} shows bob");
            no_script_ran(&b, page).await;
        }
    }))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chinese_pages_are_chosen_by_lang_and_remembered() {
    const T: &str = "the_chinese_pages_are_chosen_by_lang_and_remembered";
    if !browser::available(T) {
        return;
    }
    let (_s, port) = web_server("", true);
    bounded(
        LIMIT,
        run(T, port, Viewport::Desktop, |b| async move {
            b.goto("/login").await;
            assert_eq!(b.attr("html", "lang").await.as_deref(), Some("en"), "English by Accept-Language en-US");
            let english = b.text("h1").await;
            b.goto("/login?lang=zh-CN").await;
            assert_eq!(b.attr("html", "lang").await.as_deref(), Some("zh-CN"));
            let heading = b.text("h1").await;
            assert!(heading.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)), "a Chinese heading: {heading:?}");
            assert_ne!(heading, english);
            b.shot("login-zh-CN").await;
            b.goto("/login").await;
            assert_eq!(b.attr("html", "lang").await.as_deref(), Some("zh-CN"), "remembered (cookie birch_lang)");
            login_ok(&b, "chenwei", "chenwei-secret").await;
            assert_eq!(b.attr("html", "lang").await.as_deref(), Some("zh-CN"), "the account page too");
            b.shot("account-zh-CN").await;
            b.goto("/account?lang=en").await;
            assert_eq!(b.attr("html", "lang").await.as_deref(), Some("en"), "switched back");
        }),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_phone_the_login_and_account_pages_fit_the_screen() {
    const T: &str = "on_a_phone_the_login_and_account_pages_fit_the_screen";
    if !browser::available(T) {
        return;
    }
    let (_s, port) = web_server("", true);
    bounded(
        LIMIT,
        run(T, port, Viewport::Phone, |b| async move {
            b.goto("/login").await;
            let width = b.js("return document.documentElement.clientWidth;").await;
            assert!(width.as_u64().is_some_and(|w| w <= 400), "laid out at the phone's width (meta viewport): {width}");
            assert!(!scrolls_sideways(&b).await, "the login page fits the width");
            b.shot("phone-login").await;
            login_ok(&b, "chenwei", "chenwei-secret").await;
            assert!(!scrolls_sideways(&b).await, "the account page fits the width");
            b.shot("phone-account").await;
        }),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_login_form_works_with_the_keyboard_alone() {
    const T: &str = "the_login_form_works_with_the_keyboard_alone";
    if !browser::available(T) {
        return;
    }
    let (_s, port) = web_server("", true);
    bounded(
        LIMIT,
        run(T, port, Viewport::Desktop, |b| async move {
            b.goto("/login").await;
            let mut tabs = 0;
            while b.focused().await != "username" {
                tabs += 1;
                assert!(tabs <= 20, "Tab never reaches the user name field");
                b.press(Key::Tab).await;
            }
            b.type_text("alice").await;
            b.press(Key::Tab).await;
            assert_eq!(b.focused().await, "password", "Tab goes from the user name to the password");
            b.type_text("alice-secret").await;
            let before = b.path().await;
            b.press(Key::Enter).await;
            let whoami = b.text("#whoami").await;
            assert_eq!(whoami.trim(), "alice", "Enter submitted the form (from {before})");
        }),
    )
    .await;
}
