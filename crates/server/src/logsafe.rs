//! Log lines a client cannot forge or inflate. Every field value of every log line (the
//! text and JSON logs on standard error, and the audit file) is written through [`Clip`]:
//!
//! - control characters are escaped (`\n`, `\r`, `\t`, `\u{1b}`... in the text log; JSON
//!   escapes in the JSON log and the audit file), so a DN or a filter with a newline cannot
//!   start a line of its own;
//! - a value is cut after a limit ([`MAX_LOGGED_BYTES`] on standard error,
//!   [`MAX_AUDIT_FIELD_BYTES`] in the audit file), with a marker saying how many bytes
//!   were left out, so a 4 MB request cannot write 4 MB (or 20 MB of its dump) per line.
//!
//! [`SafeFields`] formats the fields of the text log, [`SafeJson`] the lines of the JSON log;
//! `main` installs them, and [`crate::audit`] builds its records with [`JsonLine`].

use std::fmt::{self, Write as _};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// Most bytes of one field value written to the log on standard error.
pub const MAX_LOGGED_BYTES: usize = 512;

/// Most bytes of one field value written to the audit file (the LDIF of an applied change
/// excepted: see [`crate::ops::audited`]).
pub const MAX_AUDIT_FIELD_BYTES: usize = 4096;

/// How [`Clip`] escapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Control characters (and the Unicode line and paragraph separators) as `\n`, `\r`,
    /// `\t` or `\u{..}`; everything else as it is.
    Text,
    /// The inside of a JSON string, escaped as serde_json escapes it.
    Json,
}

/// A writer that escapes what it is given and keeps only the first `max` bytes of it; the
/// rest is counted, and [`Clip::finish`] writes how much was cut.
pub struct Clip<'a, W: fmt::Write + ?Sized> {
    out: &'a mut W,
    style: Style,
    left: usize,
    cut: usize,
}

impl<'a, W: fmt::Write + ?Sized> Clip<'a, W> {
    /// A clip of at most `max` bytes (of the value, before escaping) into `out`.
    pub fn new(out: &'a mut W, style: Style, max: usize) -> Self {
        Clip { out, style, left: max, cut: 0 }
    }

    /// Writes the marker of what was cut, if anything was.
    pub fn finish(self) -> fmt::Result {
        if self.cut > 0 {
            write!(self.out, "…[{} more bytes cut]", self.cut)?;
        }
        Ok(())
    }
}

/// Whether the text log escapes `c`.
fn text_escaped(c: char) -> bool {
    c.is_control() || c == '\u{2028}' || c == '\u{2029}'
}

/// Whether a JSON string escapes `c`.
fn json_escaped(c: char) -> bool {
    c == '"' || c == '\\' || (c as u32) < 0x20
}

fn escape_into<W: fmt::Write + ?Sized>(s: &str, style: Style, out: &mut W) -> fmt::Result {
    let needs = match style {
        Style::Text => text_escaped,
        Style::Json => json_escaped,
    };
    // Nearly every value (DNs, addresses, names) needs no escaping: copied whole, found so
    // by its bytes (what either style escapes but the Unicode ones is ASCII; the text style
    // sends anything beyond ASCII the slow way, where C1 controls and U+2028/9 are found).
    let plain = match style {
        Style::Json => !s.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20),
        Style::Text => s.bytes().all(|b| (0x20..0x7f).contains(&b)),
    };
    if plain {
        return out.write_str(s);
    }
    let mut from = 0;
    for (i, c) in s.char_indices() {
        if !needs(c) {
            continue;
        }
        out.write_str(&s[from..i])?;
        from = i + c.len_utf8();
        match (style, c) {
            (_, '\n') => out.write_str("\\n")?,
            (_, '\r') => out.write_str("\\r")?,
            (_, '\t') => out.write_str("\\t")?,
            (Style::Json, '"') => out.write_str("\\\"")?,
            (Style::Json, '\\') => out.write_str("\\\\")?,
            (Style::Json, '\u{8}') => out.write_str("\\b")?,
            (Style::Json, '\u{c}') => out.write_str("\\f")?,
            (Style::Json, c) => write!(out, "\\u{:04x}", c as u32)?,
            (Style::Text, c) => write!(out, "\\u{{{:x}}}", c as u32)?,
        }
    }
    out.write_str(&s[from..])
}

impl<W: fmt::Write + ?Sized> fmt::Write for Clip<'_, W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if self.left == 0 {
            self.cut += s.len();
            return Ok(());
        }
        let mut take = s.len().min(self.left);
        while !s.is_char_boundary(take) {
            take -= 1;
        }
        escape_into(&s[..take], self.style, self.out)?;
        if take < s.len() {
            self.left = 0;
            self.cut += s.len() - take;
        } else {
            self.left -= take;
        }
        Ok(())
    }
}

/// `value` escaped and cut to `max` bytes, as a string.
pub fn clipped(value: &str, style: Style, max: usize) -> String {
    let mut out = String::with_capacity(value.len().min(max) + 32);
    let mut clip = Clip::new(&mut out, style, max);
    // Writing to a String cannot fail.
    let _ = clip.write_str(value);
    let _ = clip.finish();
    out
}

/// `value` cut to at most `max` bytes (on a character boundary) with the marker of what
/// was cut, not escaped (the log formats escape it).
pub fn cut(value: &str, max: usize) -> std::borrow::Cow<'_, str> {
    if value.len() <= max {
        return std::borrow::Cow::Borrowed(value);
    }
    let mut end = max;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    std::borrow::Cow::Owned(format!("{}…[{} more bytes cut]", &value[..end], value.len() - end))
}

/// Formats the fields of the text log: `message` first as it is, the others as
/// `name=value`, every value escaped and cut ([`Clip`]).
#[derive(Debug, Default, Clone, Copy)]
pub struct SafeFields;

impl<'w> FormatFields<'w> for SafeFields {
    fn format_fields<R: RecordFields>(&self, mut writer: Writer<'w>, fields: R) -> fmt::Result {
        let mut v = TextVisitor { out: &mut writer, first: true, result: Ok(()) };
        fields.record(&mut v);
        v.result
    }
}

struct TextVisitor<'a, 'w> {
    out: &'a mut Writer<'w>,
    first: bool,
    result: fmt::Result,
}

impl TextVisitor<'_, '_> {
    fn field(&mut self, field: &Field, value: fmt::Arguments<'_>) {
        if self.result.is_err() {
            return;
        }
        let out = &mut *self.out;
        self.result = (|| {
            if !std::mem::take(&mut self.first) {
                out.write_char(' ')?;
            }
            if field.name() != "message" {
                write!(out, "{}=", field.name())?;
            }
            let mut clip = Clip::new(&mut *out, Style::Text, MAX_LOGGED_BYTES);
            clip.write_fmt(value)?;
            clip.finish()
        })();
    }
}

impl Visit for TextVisitor<'_, '_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.field(field, format_args!("{value}"));
        } else {
            self.field(field, format_args!("{value:?}"));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.field(field, format_args!("{value:?}"));
    }
}

/// A JSON object being written, one field at a time, every string value escaped and cut
/// ([`Clip`]) at the limit it was made with. Used by the JSON log ([`SafeJson`]) and the
/// audit file. (Written directly rather than through a `serde_json::Map`: building the
/// map and its values was a seventh of a bind's instructions.)
pub struct JsonLine {
    /// The text so far.
    pub text: String,
    max: usize,
    /// Fields whose values are not cut.
    whole: &'static [&'static str],
}

impl JsonLine {
    /// An object (`{` written) whose string values are cut at `max` bytes, but for the
    /// fields named in `whole`.
    pub fn new(max: usize, whole: &'static [&'static str]) -> JsonLine {
        let mut text = String::with_capacity(256);
        text.push('{');
        JsonLine { text, max, whole }
    }

    /// Writes a key (and the comma before it).
    pub fn key(&mut self, name: &str) {
        if self.text.len() > 1 {
            self.text.push(',');
        }
        self.string(name, usize::MAX);
        self.text.push(':');
    }

    /// Writes `value` as a JSON string, escaped and cut at `max` bytes.
    pub fn string(&mut self, value: &str, max: usize) {
        self.text.push('"');
        let mut clip = Clip::new(&mut self.text, Style::Json, max);
        let _ = clip.write_str(value);
        let _ = clip.finish();
        self.text.push('"');
    }

    /// Writes a field whose value is formatted (Debug or Display).
    pub fn formatted(&mut self, name: &str, value: fmt::Arguments<'_>) {
        self.key(name);
        let max = self.limit(name);
        self.text.push('"');
        let mut clip = Clip::new(&mut self.text, Style::Json, max);
        let _ = clip.write_fmt(value);
        let _ = clip.finish();
        self.text.push('"');
    }

    fn limit(&self, name: &str) -> usize {
        if self.whole.contains(&name) {
            usize::MAX
        } else {
            self.max
        }
    }

    /// Closes the object and returns its text.
    pub fn finish(mut self) -> String {
        self.text.push('}');
        self.text
    }
}

impl Visit for JsonLine {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.key(field.name());
        let max = self.limit(field.name());
        self.string(value, max);
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.key(field.name());
        let _ = write!(self.text, "{value}");
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.key(field.name());
        let _ = write!(self.text, "{value}");
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        if value.is_finite() {
            self.key(field.name());
            let _ = write!(self.text, "{value}");
        } else {
            self.formatted(field.name(), format_args!("{value}"));
        }
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.key(field.name());
        self.text.push_str(if value { "true" } else { "false" });
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.formatted(field.name(), format_args!("{value:?}"));
    }
}

/// The level's name as the JSON log writes it.
pub fn level_name(level: &tracing::Level) -> &'static str {
    match *level {
        tracing::Level::ERROR => "ERROR",
        tracing::Level::WARN => "WARN",
        tracing::Level::INFO => "INFO",
        tracing::Level::DEBUG => "DEBUG",
        tracing::Level::TRACE => "TRACE",
    }
}

/// The level's name as the audit file writes it.
pub fn level_name_lowercase(level: &tracing::Level) -> &'static str {
    match *level {
        tracing::Level::ERROR => "error",
        tracing::Level::WARN => "warn",
        tracing::Level::INFO => "info",
        tracing::Level::DEBUG => "debug",
        tracing::Level::TRACE => "trace",
    }
}

/// Formats the lines of the JSON log: one object per line with `timestamp`, `level`, the
/// event's fields (`message` among them) and `target`, as tracing-subscriber's flattened
/// JSON did, every value escaped and cut ([`Clip`]).
#[derive(Debug, Default, Clone, Copy)]
pub struct SafeJson;

impl<S, N> FormatEvent<S, N> for SafeJson
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, _ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let mut line = JsonLine::new(MAX_LOGGED_BYTES, &[]);
        line.key("timestamp");
        line.string(&humantime::format_rfc3339_micros(std::time::SystemTime::now()).to_string(), usize::MAX);
        line.key("level");
        line.string(level_name(event.metadata().level()), usize::MAX);
        event.record(&mut line);
        line.key("target");
        line.string(event.metadata().target(), MAX_LOGGED_BYTES);
        writeln!(writer, "{}", line.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::sync::{Arc, Mutex};

    proptest! {
        #[test]
        fn json_strings_are_escaped_as_serde_json_escapes_them(s in any::<String>()) {
            let mut line = JsonLine::new(usize::MAX, &[]);
            line.string(&s, usize::MAX);
            prop_assert_eq!(&line.text[1..], &serde_json::to_string(&s).unwrap());
        }

        /// The same for ASCII-only text (the bytewise path), escapes included.
        #[test]
        fn ascii_json_strings_are_escaped_as_serde_json_escapes_them(s in "[\\x00-\\x7f]{0,40}") {
            let mut line = JsonLine::new(usize::MAX, &[]);
            line.string(&s, usize::MAX);
            prop_assert_eq!(&line.text[1..], &serde_json::to_string(&s).unwrap());
            let text = clipped(&s, Style::Text, usize::MAX);
            prop_assert!(!text.chars().any(text_escaped), "{:?}", text);
        }

        #[test]
        fn text_never_holds_a_control_character(s in any::<String>(), max in 0usize..64) {
            let out = clipped(&s, Style::Text, max);
            prop_assert!(!out.chars().any(text_escaped), "{:?}", out);
        }
    }

    #[test]
    fn values_are_cut_with_a_marker() {
        assert_eq!(clipped("abc", Style::Text, 3), "abc");
        assert_eq!(clipped("abcdef", Style::Text, 3), "abc…[3 more bytes cut]");
        assert_eq!(clipped("aé", Style::Text, 2), "a…[2 more bytes cut]", "cut on a character boundary");
        assert_eq!(clipped("a\nb\u{1b}[31m\u{2028}", Style::Text, 100), "a\\nb\\u{1b}[31m\\u{2028}");
        assert_eq!(clipped("x\"\n", Style::Json, 100), "x\\\"\\n");
        assert_eq!(cut("aé\n", 2), "a…[3 more bytes cut]");
        assert_eq!(cut("a\n", 2), "a\n");
        // Cutting works across the pieces a formatter writes.
        let mut out = String::new();
        let mut clip = Clip::new(&mut out, Style::Text, 5);
        let (a, b, c) = ("ab", "cd", "efgh");
        write!(clip, "{a}{b}{c}").unwrap();
        clip.finish().unwrap();
        assert_eq!(out, "abcde…[3 more bytes cut]");
    }

    /// Writes what a `fmt` layer produces into a shared buffer.
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Buffer {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Buffer {
        type Writer = Buffer;
        fn make_writer(&'a self) -> Buffer {
            self.clone()
        }
    }

    fn log_both(f: impl Fn()) -> (String, String) {
        use tracing_subscriber::layer::SubscriberExt;
        let (text, json) = (Buffer::default(), Buffer::default());
        let subscriber = tracing_subscriber::registry()
            .with(tracing_subscriber::fmt::layer().with_ansi(false).fmt_fields(SafeFields).with_writer(text.clone()))
            .with(tracing_subscriber::fmt::layer().event_format(SafeJson).with_writer(json.clone()));
        tracing::subscriber::with_default(subscriber, f);
        let s = |b: Buffer| String::from_utf8(b.0.lock().unwrap().clone()).unwrap();
        (s(text), s(json))
    }

    #[test]
    fn a_newline_in_a_value_does_not_start_a_line() {
        let dn = "uid=x\n2026-01-01T00:00:00Z  INFO birch::audit: event=\"bind\" root=true";
        let (text, json) = log_both(|| {
            tracing::warn!(target: "birch::audit", event = "bind_failed", dn = %dn, raw = dn, "failed {dn}");
        });
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(text.contains("uid=x\\n2026") && text.contains("event=\"bind_failed\""), "{text}");
        assert_eq!(json.lines().count(), 1, "{json}");
        let v: serde_json::Value = serde_json::from_str(json.trim_end()).unwrap();
        assert_eq!((v["dn"].as_str(), v["raw"].as_str()), (Some(dn), Some(dn)));
        assert_eq!((v["level"].as_str(), v["target"].as_str()), (Some("WARN"), Some("birch::audit")));
        assert_eq!(v["message"].as_str(), Some(format!("failed {dn}").as_str()));
    }

    #[test]
    fn a_huge_value_is_cut() {
        let big = "(".repeat(1 << 20);
        let (text, json) = log_both(|| {
            tracing::warn!(filter = %big, n = 7u64, ok = true, f = 1.5f64, "bad filter {}", big);
        });
        assert!(text.len() < 3 * MAX_LOGGED_BYTES, "{} bytes", text.len());
        assert!(text.contains("…[1048064 more bytes cut]"), "{text}");
        assert!(json.len() < 3 * MAX_LOGGED_BYTES, "{} bytes", json.len());
        let v: serde_json::Value = serde_json::from_str(json.trim_end()).unwrap();
        assert!(v["filter"].as_str().unwrap().ends_with("…[1048064 more bytes cut]"));
        assert_eq!((v["n"].as_u64(), v["ok"].as_bool(), v["f"].as_f64()), (Some(7), Some(true), Some(1.5)));
    }
}
