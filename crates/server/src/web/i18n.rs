//! The pages' two languages, English and Simplified Chinese: which one a request gets
//! (`?lang=`, then the `birch_lang` cookie, then `Accept-Language`), and every text of the
//! pages in both ([`Texts`], one field per text, so a missing translation does not compile).

/// The cookie remembering the language chosen with `?lang=`.
pub const COOKIE: &str = "birch_lang";

/// A language of the pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// English.
    En,
    /// Simplified Chinese.
    ZhCn,
}

impl Lang {
    /// The language tag (`<html lang>`, `?lang=`, the cookie).
    pub fn tag(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::ZhCn => "zh-CN",
        }
    }

    /// The language a tag names (`en`, `en-GB`, `zh`, `zh-CN`, `zh-Hans`...; case-insensitive).
    pub fn from_tag(tag: &str) -> Option<Lang> {
        let t = tag.trim().to_ascii_lowercase();
        let primary = t.split(['-', '_']).next().unwrap_or("");
        match primary {
            "en" => Some(Lang::En),
            // Traditional Chinese (zh-TW, zh-HK, zh-Hant) is not offered: Simplified is
            // closer than English.
            "zh" => Some(Lang::ZhCn),
            _ => None,
        }
    }

    /// The language an `Accept-Language` header prefers most among those offered (by
    /// q-value, then order); English when none is offered.
    pub fn from_accept(header: &str) -> Lang {
        let mut best: Option<(f32, usize, Lang)> = None;
        for (i, part) in header.split(',').take(32).enumerate() {
            let mut fields = part.split(';');
            let Some(lang) = fields.next().and_then(Lang::from_tag) else { continue };
            let q = fields
                .find_map(|f| f.trim().strip_prefix("q=").and_then(|v| v.trim().parse::<f32>().ok()))
                .unwrap_or(1.0);
            if q <= 0.0 || q.is_nan() {
                continue;
            }
            if best.is_none_or(|(bq, bi, _)| q > bq || (q == bq && i < bi)) {
                best = Some((q, i, lang));
            }
        }
        best.map_or(Lang::En, |(_, _, l)| l)
    }

    /// The language of a request: `?lang=`, else the cookie, else `Accept-Language`.
    pub fn pick(query: Option<&str>, cookie: Option<&str>, accept: Option<&str>) -> Lang {
        query
            .and_then(Lang::from_tag)
            .or_else(|| cookie.and_then(Lang::from_tag))
            .unwrap_or_else(|| accept.map_or(Lang::En, Lang::from_accept))
    }

    /// The texts in this language.
    pub fn texts(self) -> &'static Texts {
        match self {
            Lang::En => &EN,
            Lang::ZhCn => &ZH,
        }
    }
}

/// `{n}` in a text replaced by a value.
pub fn fill(text: &str, n: impl std::fmt::Display) -> String {
    text.replace("{n}", &n.to_string())
}

macro_rules! texts {
    ($($name:ident: $en:expr, $zh:expr;)*) => {
        /// Every text of the pages in one language.
        pub struct Texts {
            $(
                #[doc = $en]
                pub $name: &'static str,
            )*
        }

        /// The English texts.
        pub static EN: Texts = Texts { $($name: $en,)* };

        /// The Simplified Chinese texts.
        pub static ZH: Texts = Texts { $($name: $zh,)* };
    };
}

texts! {
    app: "Birch directory", "Birch 目录服务";
    skip: "Skip to the content", "跳到正文";
    nav_account: "My account", "我的账户";
    nav_password: "Change password", "修改密码";
    nav_helpdesk: "Helpdesk", "服务台";
    nav_audit: "Audit log", "审计日志";
    signed_in_as: "Signed in as", "当前用户";
    logout: "Log out", "退出登录";
    language: "Language", "语言";
    login_title: "Log in", "登录";
    username: "User name (uid) or DN", "用户名（uid）或 DN";
    password: "Password", "密码";
    login_button: "Log in", "登录";
    login_failed: "The user name or password is wrong.", "用户名或密码错误。";
    login_locked: "This account is locked. Ask the helpdesk to unlock it, or try again later.", "该账户已被锁定。请联系服务台解锁，或稍后再试。";
    login_expired: "Your password has expired. Ask the helpdesk for a new one.", "您的密码已过期。请联系服务台重置密码。";
    login_throttled: "Too many failed logins. Wait a few minutes and try again.", "登录失败次数过多。请等待几分钟后再试。";
    login_tls: "This server accepts logins only over a secure (HTTPS) connection.", "本服务器仅接受通过安全连接（HTTPS）登录。";
    login_missing: "Enter your user name and password.", "请输入用户名和密码。";
    unavailable: "The directory cannot answer now. Try again later.", "目录服务暂时无法响应，请稍后再试。";
    grace_left: "Your password has expired. Logins left before the account is locked: {n}. Change your password now.", "您的密码已过期。账户被锁定前剩余登录次数：{n}。请立即修改密码。";
    expires_in: "Your password expires in {n}. Change it soon.", "您的密码将在 {n} 后过期，请尽快修改。";
    must_change: "Your password was reset. Choose a new password before you continue.", "您的密码已被重置。请先设置新密码再继续。";
    session_ended: "Your session has ended. Please log in again.", "您的会话已结束，请重新登录。";
    logged_out: "You have logged out.", "您已退出登录。";
    csrf_refused: "This form has expired or did not come from this site. Reload the page and try again.", "此表单已过期或并非来自本站。请刷新页面后重试。";
    forbidden: "You may not see this page.", "您无权查看此页面。";
    not_found: "There is no such page.", "页面不存在。";
    too_large: "The form is too large.", "提交的表单过大。";
    account_title: "My account", "我的账户";
    attributes: "What the directory holds about you", "目录中关于您的信息";
    attribute: "Attribute", "属性";
    value: "Value", "值";
    groups: "Groups", "所属组";
    none: "(none)", "（无）";
    password_status: "Password", "密码";
    password_changed: "Last changed", "上次修改";
    password_age: "Age", "已使用";
    password_expires: "Expires", "过期时间";
    never: "never", "永不";
    unknown: "unknown", "未知";
    days: "{n} days", "{n} 天";
    edit_title: "Change your details", "修改个人信息";
    save: "Save", "保存";
    saved: "Your changes are saved.", "您的修改已保存。";
    nothing_changed: "Nothing changed.", "没有任何修改。";
    refused: "The directory refused the change:", "目录服务拒绝了此修改：";
    not_editable: "You may not change this attribute:", "您无权修改此属性：";
    password_title: "Change password", "修改密码";
    policy_title: "Rules for the new password", "新密码的要求";
    policy_min_length: "At least {n} characters.", "至少 {n} 个字符。";
    policy_max_length: "At most {n} characters.", "最多 {n} 个字符。";
    policy_history: "Not one of your last {n} passwords.", "不能与最近 {n} 个密码相同。";
    policy_quality: "The length is checked when you submit.", "提交时会检查密码长度。";
    policy_min_age: "After a change, the next change is possible in {n}.", "修改后，需等待 {n} 才能再次修改。";
    policy_max_age: "A password is valid for {n}.", "密码有效期为 {n}。";
    policy_strength: "Use a long passphrase: its strength is shown after you submit.", "建议使用较长的密码短语，提交后会显示其强度。";
    current_password: "Current password", "当前密码";
    new_password: "New password", "新密码";
    confirm_password: "New password again", "再次输入新密码";
    change_button: "Change password", "修改密码";
    mismatch: "The two new passwords are not the same.", "两次输入的新密码不一致。";
    changed: "Your password is changed.", "您的密码已修改。";
    wrong_current: "The current password is wrong.", "当前密码错误。";
    too_short: "The new password is too short.", "新密码太短。";
    too_long: "The new password is too long.", "新密码太长。";
    in_history: "You used this password before. Choose one you have not used.", "该密码以前使用过，请选择一个新的密码。";
    quality: "The new password does not meet the rules.", "新密码不符合要求。";
    too_young: "You changed your password too recently. Try again later.", "您最近刚修改过密码，请稍后再试。";
    not_allowed: "You may not change your password here. Ask the helpdesk.", "您无法在此修改密码，请联系服务台。";
    strength: "Strength of the password you chose:", "您所选密码的强度：";
    strength_0: "very weak", "非常弱";
    strength_1: "weak", "弱";
    strength_2: "fair", "一般";
    strength_3: "strong", "强";
    strength_4: "very strong", "非常强";
    helpdesk_title: "Helpdesk", "服务台";
    search_label: "Search people (uid, name or mail)", "搜索用户（uid、姓名或邮箱）";
    search_button: "Search", "搜索";
    no_results: "Nobody found.", "未找到任何人。";
    uid: "User name", "用户名";
    name: "Name", "姓名";
    status: "Status", "状态";
    status_active: "active", "正常";
    status_locked: "locked", "已锁定";
    status_disabled: "disabled", "已停用";
    status_expired: "expired", "已过期";
    status_must_change: "must change password", "须修改密码";
    disabled_reason: "Reason it is disabled", "停用原因";
    actions: "Actions", "操作";
    reset_button: "Reset password", "重置密码";
    temporary_password: "Temporary password (shown only now; the person must change it at the next login):", "临时密码（仅显示这一次；此人下次登录时必须修改）：";
    unlock_button: "Unlock", "解锁";
    disable_button: "Disable", "停用";
    enable_button: "Enable", "启用";
    reason: "Reason", "原因";
    reason_needed: "Give a reason to disable an account.", "停用账户时必须填写原因。";
    group_cn: "Group name (cn)", "组名（cn）";
    add_group: "Add to group", "加入组";
    remove_group: "Remove", "移出";
    done: "Done.", "操作完成。";
    no_such_group: "There is no such group.", "该组不存在。";
    no_such_person: "There is no such person.", "该用户不存在。";
    audit_title: "Audit log", "审计日志";
    person_dn: "Person (DN)", "用户（DN）";
    actor_dn: "Done by (DN)", "操作者（DN）";
    since: "Since (a time such as 2026-01-31T08:00:00Z, or an age such as 2h)", "起始时间（如 2026-01-31T08:00:00Z，或时长如 2h）";
    show_button: "Show", "显示";
    time: "Time", "时间";
    event: "Event", "事件";
    actor: "By", "操作者";
    result: "Result", "结果";
    audit_off: "The audit log is off (audit.file).", "审计日志未开启（audit.file）。";
    audit_bad_since: "The time is not understood.", "无法识别该时间。";
    audit_latest: "The latest {n} records that match, newest first.", "符合条件的最新 {n} 条记录，最新的在前。";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_the_best_offered() {
        assert_eq!(Lang::from_accept("zh-CN,zh;q=0.9,en;q=0.8"), Lang::ZhCn);
        assert_eq!(Lang::from_accept("en-US,en;q=0.9,zh-CN;q=0.8"), Lang::En);
        assert_eq!(Lang::from_accept("fr-FR, zh;q=0.5, en;q=0.4"), Lang::ZhCn);
        assert_eq!(Lang::from_accept("de, fr"), Lang::En);
        assert_eq!(Lang::from_accept("zh;q=0, en"), Lang::En);
        assert_eq!(Lang::from_accept(""), Lang::En);
        assert_eq!(Lang::from_accept("zh-Hans"), Lang::ZhCn);
    }

    #[test]
    fn the_query_wins_over_the_cookie_over_the_header() {
        assert_eq!(Lang::pick(Some("zh-CN"), Some("en"), Some("en")), Lang::ZhCn);
        assert_eq!(Lang::pick(None, Some("zh-CN"), Some("en")), Lang::ZhCn);
        assert_eq!(Lang::pick(Some("klingon"), None, Some("zh")), Lang::ZhCn);
        assert_eq!(Lang::pick(None, None, None), Lang::En);
    }

    #[test]
    fn texts_differ_by_language_and_fill_numbers() {
        assert_eq!(Lang::En.texts().login_title, "Log in");
        assert_eq!(Lang::ZhCn.texts().login_title, "登录");
        assert_eq!(fill(Lang::En.texts().policy_min_length, 8), "At least 8 characters.");
        assert_eq!(Lang::ZhCn.tag(), "zh-CN");
    }
}
