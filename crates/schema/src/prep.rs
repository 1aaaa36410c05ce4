//! RFC 4518 string preparation for the string matching rules: Transcode, Map, Normalize
//! (NFKC), case folding, Prohibit and Insignificant Character Handling.
//!
//! Prepared values are kept in a compact canonical form: no leading or trailing space, one
//! space between words (RFC 4518 section 2.6.1 writes the same equivalence class as one
//! leading and trailing space and two inner ones; see [`substring_form`], which uses that
//! form for substring matching). ASCII input takes a fast path that gives the same result as
//! the full pipeline.

use icu_casemap::CaseMapper;
use icu_normalizer::ComposingNormalizerBorrowed;
use icu_properties::props::GeneralCategory;
use icu_properties::CodePointMapData;

/// Which characters are insignificant (RFC 4518 section 2.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Insignificant {
    /// Leading, trailing and repeated spaces (the case*Match rules).
    Space,
    /// All spaces (numericStringMatch).
    AllSpaces,
    /// All spaces and hyphens (telephoneNumberMatch).
    SpacesAndHyphens,
}

/// Prepares a value: `None` if it contains a prohibited code point (unassigned, private
/// use, non-character, U+FFFD), which then matches nothing.
pub fn prepare(s: &str, fold_case: bool, insignificant: Insignificant) -> Option<String> {
    if s.is_ascii() {
        return Some(prepare_ascii(s, fold_case, insignificant));
    }
    let mapped = map_normalize_fold(s, fold_case)?;
    let out: String = match insignificant {
        Insignificant::Space => collapse(&mapped),
        Insignificant::AllSpaces => mapped.chars().filter(|&c| c != ' ').collect(),
        Insignificant::SpacesAndHyphens => mapped.chars().filter(|&c| !is_hyphen(c) && c != ' ').collect(),
    };
    // Removing spaces can bring combining marks together: put them back in canonical order.
    Some(ComposingNormalizerBorrowed::new_nfkc().normalize(&out).into_owned())
}

/// The ASCII path: the map step only touches controls, NFKC and case folding are the
/// identity and ASCII lower-casing.
fn prepare_ascii(s: &str, fold_case: bool, insignificant: Insignificant) -> String {
    let mut out = String::with_capacity(s.len());
    ascii_prepared(s.as_bytes(), fold_case, insignificant, |b| {
        out.push(char::from(b));
        true
    });
    out
}

/// Whether the ASCII value `s`, prepared, equals `prepared` (an already prepared value):
/// the comparison [`prepare`] followed by `==` would make, without building the prepared
/// string. Filters compare every stored value of a candidate this way (a group's hundreds
/// of memberUid values), so it must not allocate.
pub fn ascii_prepared_eq(s: &[u8], fold_case: bool, insignificant: Insignificant, prepared: &[u8]) -> bool {
    // Printable ASCII without spaces (and without hyphens where those are insignificant)
    // prepares to itself, lower-cased when folding: a plain comparison decides.
    let plain = s.iter().all(|&b| b.is_ascii_graphic())
        && !(insignificant == Insignificant::SpacesAndHyphens && s.contains(&b'-'));
    if plain {
        return if fold_case { s.eq_ignore_ascii_case(prepared) } else { s == prepared };
    }
    let mut pos = 0;
    let complete = ascii_prepared(s, fold_case, insignificant, |b| {
        if prepared.get(pos) == Some(&b) {
            pos += 1;
            true
        } else {
            false
        }
    });
    complete && pos == prepared.len()
}

/// Emits the prepared form of the ASCII bytes `s` one byte at a time; stops early (and
/// returns false) when `emit` returns false.
fn ascii_prepared(s: &[u8], fold_case: bool, insignificant: Insignificant, mut emit: impl FnMut(u8) -> bool) -> bool {
    let mut pending_space = false;
    let mut started = false;
    for &b in s {
        let c = match b {
            // TAB, LF, VT, FF, CR map to SPACE; other controls to nothing.
            0x09..=0x0d | b' ' => b' ',
            0x00..=0x08 | 0x0e..=0x1f | 0x7f => continue,
            _ if fold_case => b.to_ascii_lowercase(),
            _ => b,
        };
        match (insignificant, c) {
            (Insignificant::Space, b' ') => pending_space = started,
            (Insignificant::AllSpaces, b' ') | (Insignificant::SpacesAndHyphens, b' ' | b'-') => {}
            _ => {
                if pending_space {
                    if !emit(b' ') {
                        return false;
                    }
                    pending_space = false;
                }
                if !emit(c) {
                    return false;
                }
                started = true;
            }
        }
    }
    true
}

/// Steps 2.2 to 2.4 (without insignificant characters): `None` if a prohibited code point
/// remains.
fn map_normalize_fold(s: &str, fold_case: bool) -> Option<String> {
    let gc = CodePointMapData::<GeneralCategory>::new();
    let mut mapped = String::with_capacity(s.len());
    for c in s.chars() {
        match map_char(c, gc.get(c)) {
            Mapped::Nothing => {}
            Mapped::Space => mapped.push(' '),
            Mapped::Keep => mapped.push(c),
        }
    }
    let nfkc = ComposingNormalizerBorrowed::new_nfkc();
    let mut out = nfkc.normalize(&mapped).into_owned();
    if fold_case {
        // RFC 3454 table B.2 is case folding closed under NFKC: fold and re-normalize until
        // stable (one round for all but a few compatibility characters).
        let cm = CaseMapper::new();
        for _ in 0..4 {
            let next = nfkc.normalize(&cm.fold_string(&out)).into_owned();
            if next == out {
                break;
            }
            out = next;
        }
    }
    if out.chars().any(|c| prohibited(c, gc.get(c))) {
        return None;
    }
    Some(out)
}

enum Mapped {
    Nothing,
    Space,
    Keep,
}

/// RFC 4518 section 2.2.
fn map_char(c: char, gc: GeneralCategory) -> Mapped {
    match c {
        // Soft hyphens, the combining grapheme joiner, variation selectors, the object
        // replacement character and the zero width space map to nothing.
        '\u{00AD}' | '\u{1806}' | '\u{034F}' | '\u{180B}'..='\u{180D}' | '\u{FE00}'..='\u{FE0F}' | '\u{FFFC}' => {
            Mapped::Nothing
        }
        '\u{200B}' => Mapped::Nothing,
        '\u{E0100}'..='\u{E01EF}' => Mapped::Nothing,
        '\u{0009}'..='\u{000D}' | '\u{0085}' => Mapped::Space,
        _ => match gc {
            GeneralCategory::Control | GeneralCategory::Format => Mapped::Nothing,
            GeneralCategory::SpaceSeparator | GeneralCategory::LineSeparator | GeneralCategory::ParagraphSeparator => {
                Mapped::Space
            }
            _ => Mapped::Keep,
        },
    }
}

/// RFC 4518 section 2.4: unassigned, private use, non-characters (all unassigned in the
/// General_Category sense), surrogates (impossible in a Rust string) and U+FFFD.
fn prohibited(c: char, gc: GeneralCategory) -> bool {
    c == '\u{FFFD}' || matches!(gc, GeneralCategory::Unassigned | GeneralCategory::PrivateUse)
}

fn is_hyphen(c: char) -> bool {
    // After NFKC the hyphen-minus is the only hyphen telephoneNumberMatch ignores (RFC 4517
    // section 4.2.28 names "spaces and hyphens"); other dashes are kept, as in slapd.
    c == '-'
}

/// Whether `c` combines with a preceding space (RFC 4518 section 2.6.1: a SPACE followed by
/// combining marks is not a space).
fn is_mark(c: char) -> bool {
    matches!(
        CodePointMapData::<GeneralCategory>::new().get(c),
        GeneralCategory::NonspacingMark | GeneralCategory::SpacingMark | GeneralCategory::EnclosingMark
    )
}

/// Insignificant space handling on a mapped, normalized string: no leading or trailing
/// spaces, one space between words. A space followed by a combining mark is not a space.
fn collapse(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut pending_space = false;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == ' ' && !chars.peek().is_some_and(|&n| is_mark(n)) {
            pending_space = !out.is_empty();
            continue;
        }
        if pending_space {
            out.push(' ');
            pending_space = false;
        }
        out.push(c);
    }
    out
}

/// Where a substring component stands in the assertion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// `initial*`.
    Initial,
    /// `*any*`.
    Any,
    /// `*final`.
    Final,
}

/// RFC 4518 section 2.6.1 for substring matching: a prepared value (canonical form) as one
/// leading space, two spaces between words and one trailing space (two spaces for a value
/// without words).
pub fn substring_form(canonical: &str) -> String {
    if canonical.is_ascii() {
        // No combining marks: every space separates words (one, in the canonical form).
        let mut out = String::with_capacity(canonical.len() + 8);
        out.push(' ');
        for c in canonical.chars() {
            out.push(c);
            if c == ' ' {
                out.push(' ');
            }
        }
        out.push(' ');
        return out;
    }
    let words = split_words(canonical);
    if words.is_empty() {
        return "  ".to_string();
    }
    format!(" {} ", words.join("  "))
}

/// The words of a substring component (in either form) joined by single spaces, outer
/// spaces dropped: a string every value matching the component contains in its canonical
/// form, for index planning.
pub fn substring_core(component: &str) -> String {
    split_words(component.trim_matches(' ')).join(" ")
}

/// Whether a string starts with a combining mark: the core of an initial component that
/// does may stem from a value starting with SPACE + mark, so it cannot be anchored.
pub fn starts_with_mark(s: &str) -> bool {
    s.chars().next().is_some_and(is_mark)
}

/// RFC 4518 section 2.6.1 for a substring component (already mapped, normalized and folded,
/// spaces kept): a component of spaces only is one space; otherwise an initial component
/// starts with one space, a final one ends with one space, a leading or trailing run of
/// spaces becomes one space and an inner run two.
pub fn substring_component(s: &str, part: Part) -> String {
    let words: Vec<&str> = split_words(s);
    if words.is_empty() {
        return " ".to_string();
    }
    let lead = part == Part::Initial || starts_with_space(s);
    let trail = part == Part::Final || ends_with_space(s);
    let mut out = String::with_capacity(s.len() + 4);
    if lead {
        out.push(' ');
    }
    out.push_str(&words.join("  "));
    if trail {
        out.push(' ');
    }
    out
}

/// The words of a component, split at spaces that are not followed by a combining mark.
fn split_words(s: &str) -> Vec<&str> {
    let mut words = Vec::new();
    let mut start = None;
    let mut iter = s.char_indices().peekable();
    while let Some((i, c)) = iter.next() {
        let space = c == ' ' && !iter.peek().is_some_and(|&(_, n)| is_mark(n));
        match (space, start) {
            (true, Some(st)) => {
                words.push(&s[st..i]);
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(st) = start {
        words.push(&s[st..]);
    }
    words
}

fn starts_with_space(s: &str) -> bool {
    let mut it = s.chars();
    it.next() == Some(' ') && !it.next().is_some_and(is_mark)
}

fn ends_with_space(s: &str) -> bool {
    s.ends_with(' ')
}

/// Maps, normalizes and folds a substring component without the space handling (that is
/// [`substring_component`]'s); `None` if it contains a prohibited code point.
pub fn prepare_component(s: &str, fold_case: bool) -> Option<String> {
    if s.is_ascii() {
        let mut out = String::with_capacity(s.len());
        for &b in s.as_bytes() {
            match b {
                0x09..=0x0d => out.push(' '),
                0x00..=0x08 | 0x0e..=0x1f | 0x7f => {}
                _ if fold_case => out.push(char::from(b.to_ascii_lowercase())),
                _ => out.push(char::from(b)),
            }
        }
        return Some(out);
    }
    map_normalize_fold(s, fold_case)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ci(s: &str) -> Option<String> {
        prepare(s, true, Insignificant::Space)
    }

    proptest! {
        #[test]
        fn ascii_prepared_eq_agrees_with_prepare(a in "[ -~\t]{0,12}", b in "[ -~\t]{0,12}", fold in any::<bool>(), ins in 0u8..3) {
            let ins = [Insignificant::Space, Insignificant::AllSpaces, Insignificant::SpacesAndHyphens][usize::from(ins)];
            let pb = prepare(&b, fold, ins).unwrap();
            let pa = prepare(&a, fold, ins).unwrap();
            prop_assert_eq!(ascii_prepared_eq(a.as_bytes(), fold, ins, pb.as_bytes()), pa == pb);
            prop_assert!(ascii_prepared_eq(a.as_bytes(), fold, ins, pa.as_bytes()));
        }
    }

    #[test]
    fn rfc_4518_mapping_normalization_and_folding() {
        assert_eq!(ci("  John \t  SMITH ").as_deref(), Some("john smith"));
        assert_eq!(ci("ÉMILE Dupont").as_deref(), Some("émile dupont"));
        // Decomposed input composes (NFKC).
        assert_eq!(ci("E\u{0301}mile"), ci("Émile"));
        // Soft hyphen, zero width space and variation selectors map to nothing.
        assert_eq!(ci("Mül\u{00AD}ler\u{200B}").as_deref(), Some("müller"));
        assert_eq!(ci("A\u{FE0F}").as_deref(), Some("a"));
        // No-break and ideographic spaces are spaces.
        assert_eq!(ci("a\u{00A0}\u{3000}b").as_deref(), Some("a b"));
        // Full case folding: ß is ss; ligatures and fullwidth letters decompose.
        assert_eq!(ci("Straße"), ci("STRASSE"));
        assert_eq!(ci("ﬁle").as_deref(), Some("file"));
        assert_eq!(ci("ＡＢＣ").as_deref(), Some("abc"));
        assert_eq!(ci("℃").as_deref(), Some("°c"));
        // Turkish dotless i stays apart from i; the dotted capital folds to i + dot.
        assert_ne!(ci("ı"), ci("i"));
        assert_eq!(ci("İ").as_deref(), Some("i\u{0307}"));
        assert_eq!(ci("陈伟").as_deref(), Some("陈伟"));
        // Case exact keeps case but still normalizes.
        assert_eq!(prepare("ＡＢ  c", false, Insignificant::Space).as_deref(), Some("AB c"));
    }

    #[test]
    fn prohibited_code_points_match_nothing() {
        assert_eq!(ci("a\u{E000}"), None, "private use");
        assert_eq!(ci("a\u{FFFD}"), None, "replacement character");
        assert_eq!(ci("a\u{FFFF}"), None, "non-character");
        assert_eq!(ci("a\u{0378}"), None, "unassigned");
    }

    #[test]
    fn numeric_and_telephone_strings() {
        assert_eq!(prepare(" 1 234 ５", true, Insignificant::AllSpaces).as_deref(), Some("12345"));
        assert_eq!(prepare("+1 555-0100", true, Insignificant::SpacesAndHyphens).as_deref(), Some("+15550100"));
    }

    #[test]
    fn substring_forms_per_section_2_6_1() {
        assert_eq!(substring_form("a b"), " a  b ");
        assert_eq!(substring_form(""), "  ");
        assert_eq!(substring_core(" a  b "), "a b");
        assert_eq!(substring_component("a b", Part::Initial), " a  b");
        assert_eq!(substring_component("a ", Part::Initial), " a ");
        assert_eq!(substring_component(" b", Part::Any), " b");
        assert_eq!(substring_component("b   c", Part::Any), "b  c");
        assert_eq!(substring_component("c", Part::Final), "c ");
        assert_eq!(substring_component("   ", Part::Final), " ");
    }

    #[test]
    fn a_space_before_a_combining_mark_is_kept() {
        // U+00A8 DIAERESIS is SPACE + COMBINING DIAERESIS under NFKC.
        let n = ci("a \u{00A8}").unwrap();
        assert_eq!(n, "a  \u{0308}");
        assert_eq!(ci(&n).unwrap(), n);
    }

    proptest! {
        #[test]
        fn ascii_fast_path_agrees_with_the_full_pipeline(s in "[\\x00-\\x7f]{0,24}", fold in any::<bool>()) {
            let full = map_normalize_fold(&s, fold).map(|m| collapse(&m));
            prop_assert_eq!(Some(prepare_ascii(&s, fold, Insignificant::Space)), full);
        }

        #[test]
        fn preparation_is_idempotent(s in "\\PC{0,16}|[ a-zA-Z\u{00A0}-\u{024F}\u{0300}-\u{036F}\u{2000}-\u{20FF}\u{FB00}-\u{FB06}\u{FF01}-\u{FF5E}\u{3000}-\u{3010}]{0,16}", fold in any::<bool>()) {
            for ins in [Insignificant::Space, Insignificant::AllSpaces, Insignificant::SpacesAndHyphens] {
                if let Some(n) = prepare(&s, fold, ins) {
                    prop_assert_eq!(prepare(&n, fold, ins), Some(n.clone()), "{:?}", ins);
                }
            }
        }
    }
}
