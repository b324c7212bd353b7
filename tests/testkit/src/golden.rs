//! Golden files for messages: the email text and the chat card of a [`Notification`] as it is
//! PUBLISHED (one SNS publish, `Notification::render()`), byte for byte, in `<crate>/tests/golden/`.
//! A change to wording shows up in review as a diff of those files.
//!
//! ```ignore
//! livepatch_testkit::golden::check(env!("CARGO_MANIFEST_DIR"), "scan-started", &notification);
//! ```
//!
//! Regenerate with `UPDATE_GOLDEN=1 cargo test -p <crate> --test golden`, then review the diff.

use std::path::{Path, PathBuf};

use livepatch_shared::notify::{validate_chat_card, Notification};
use serde_json::Value;

/// SNS takes at most 256 KiB per publish, subject and attributes included.
const SNS_MAX_BYTES: usize = 256 * 1024;
/// SNS subjects must be under 100 characters.
const SUBJECT_MAX_CHARS: usize = 99;

/// What one SNS publish of a notification carries, read back the way a subscriber reads it.
#[derive(Debug, Clone)]
pub struct Published {
    pub subject: String,
    /// The `email` (and `default`) text.
    pub email: String,
    /// The `https` chat card, parsed.
    pub card: Value,
    pub attributes: Vec<(&'static str, String)>,
}

/// Renders `n` as it is published and checks what every publish must be: a JSON message whose
/// `email` equals `default`, an `https` chat card valid against the AWS Chatbot custom
/// notification schema, a one-line ASCII subject under 100 characters, non-empty `event_type`
/// and `severity` attributes, and a publish under the SNS size limit. Panics naming `name`.
pub fn published(name: &str, n: &Notification) -> Published {
    let rendered = n.render();
    let subject = rendered.subject;
    assert!(
        subject.chars().count() <= SUBJECT_MAX_CHARS,
        "{name}: subject is {} characters, SNS takes under 100: {subject:?}",
        subject.chars().count()
    );
    assert!(
        !subject.contains(['\n', '\r']),
        "{name}: subject has a line break: {subject:?}"
    );
    assert!(
        subject.is_ascii(),
        "{name}: subject is not ASCII: {subject:?}"
    );
    assert!(!subject.trim().is_empty(), "{name}: empty subject");
    for key in ["event_type", "severity"] {
        let value = rendered
            .attributes
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str());
        assert!(
            value.is_some_and(|v| !v.trim().is_empty()),
            "{name}: attribute {key} missing or empty: {:?}",
            rendered.attributes
        );
    }
    let size = rendered.message.len()
        + subject.len()
        + rendered
            .attributes
            .iter()
            .map(|(k, v)| k.len() + v.len())
            .sum::<usize>();
    assert!(
        size < SNS_MAX_BYTES,
        "{name}: publish is {size} bytes, SNS takes under {SNS_MAX_BYTES}"
    );
    let body: Value = serde_json::from_str(&rendered.message)
        .unwrap_or_else(|e| panic!("{name}: message is not JSON: {e}"));
    let email = body["email"]
        .as_str()
        .unwrap_or_else(|| panic!("{name}: message has no email text: {body}"))
        .to_owned();
    assert_eq!(
        body["default"].as_str(),
        Some(email.as_str()),
        "{name}: default differs from email"
    );
    let https = body["https"]
        .as_str()
        .unwrap_or_else(|| panic!("{name}: message has no https card: {body}"));
    let card: Value = serde_json::from_str(https)
        .unwrap_or_else(|e| panic!("{name}: https is not a JSON card: {e}"));
    validate_chat_card(&card)
        .unwrap_or_else(|problems| panic!("{name}: invalid chat card: {problems:?}\n{card:#}"));
    let event_type = rendered
        .attributes
        .iter()
        .find(|(k, _)| *k == "event_type")
        .map(|(_, v)| v.as_str());
    assert_eq!(
        card["metadata"]["eventType"].as_str(),
        event_type,
        "{name}: the card's eventType differs from the event_type attribute"
    );
    Published {
        subject,
        email,
        card,
        attributes: rendered.attributes,
    }
}

/// Checks `n` as [`published`] does, then compares `{name}.email.txt` (the subject line, a blank
/// line, the email text) and `{name}.chat.json` (the card, pretty, with a final newline) with
/// the files in `<manifest_dir>/tests/golden/`; with `UPDATE_GOLDEN` set, writes them instead.
pub fn check(manifest_dir: &str, name: &str, n: &Notification) -> Published {
    let published = published(name, n);
    let text = format!("Subject: {}\n\n{}", published.subject, published.email);
    let card = serde_json::to_string_pretty(&published.card).expect("card serialises") + "\n";
    compare(manifest_dir, &format!("{name}.email.txt"), &text);
    compare(manifest_dir, &format!("{name}.chat.json"), &card);
    published
}

/// Compares `actual` with `<manifest_dir>/tests/golden/<file>`, or writes it with `UPDATE_GOLDEN` set.
pub fn compare(manifest_dir: &str, file: &str, actual: &str) {
    let path = golden_dir(manifest_dir).join(file);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(golden_dir(manifest_dir)).expect("create tests/golden");
        std::fs::write(&path, actual)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "{} missing: run with UPDATE_GOLDEN=1 and review it",
            path.display()
        )
    });
    assert_eq!(
        actual,
        expected,
        "{} differs (UPDATE_GOLDEN=1 to accept, then review the diff)",
        path.display()
    );
}

fn golden_dir(manifest_dir: &str) -> PathBuf {
    Path::new(manifest_dir).join("tests/golden")
}
