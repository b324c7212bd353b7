//! One message, rendered as plain text for email and as an AWS Chatbot custom notification for chat,
//! carried by a single SNS publish (`MessageStructure=json`, DOMAIN.md §5).

use serde::Serialize;
use serde_json::json;

/// How loudly a message should ring; also an SNS message attribute for subscription filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Info,
    Warning,
    Critical,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Info => "info",
            Level::Warning => "warning",
            Level::Critical => "critical",
        }
    }
}

/// A titled list of lines inside a message ("Skipped", "Commands sent"...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub heading: String,
    pub lines: Vec<String>,
}

/// What a function tells people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// Unique per message (the chat card's `id`): the run or event that caused it.
    pub id: String,
    /// Machine-readable kind such as `scan.started`; chat `eventType` and the `event_type` attribute.
    pub event_type: String,
    pub level: Level,
    pub title: String,
    pub summary: String,
    pub sections: Vec<Section>,
    pub next_steps: Vec<String>,
    pub keywords: Vec<String>,
    /// Groups related chat messages into one thread (per command or per instance).
    pub thread_id: String,
    pub related_resources: Vec<String>,
}

/// The three parts of an SNS publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    /// The `MessageStructure=json` body: `default` and `email` as text, `https` as the chat card.
    pub message: String,
    pub attributes: Vec<(&'static str, String)>,
}

const PRODUCT: &str = "livepatch-autopilot";
/// SNS subjects must be under 100 characters.
const SUBJECT_MAX: usize = 99;
/// Lines shown per section before the rest is summarised: keeps messages readable.
const SECTION_MAX_LINES: usize = 50;
/// One line of a section, cut beyond this (a package list can be long).
const LINE_MAX_CHARS: usize = 400;
/// Resources a chat card names; the rest are in the text.
const RELATED_MAX: usize = 20;
/// SNS takes 256 KiB including subject and attributes; the body stays under this, fewer lines
/// a section shown until it does.
const MESSAGE_MAX_BYTES: usize = 240 * 1024;

impl Notification {
    /// The email subject: SNS takes ASCII only, one line, under 100 characters.
    pub fn subject(&self) -> String {
        let mut ascii = String::new();
        for c in format!("[{PRODUCT}] {}", self.title).chars() {
            match c {
                c if c.is_control() => ascii.push(' '),
                c if c.is_ascii() => ascii.push(c),
                '…' => ascii.push_str("..."),
                '–' | '—' | '−' => ascii.push('-'),
                '‘' | '’' => ascii.push('\''),
                '“' | '”' => ascii.push('"'),
                _ => ascii.push('?'),
            }
        }
        if ascii.len() <= SUBJECT_MAX {
            return ascii;
        }
        ascii.truncate(SUBJECT_MAX - 3);
        ascii.push_str("...");
        ascii
    }

    /// Plain text for email (and SNS `default`).
    pub fn email_text(&self) -> String {
        self.email_text_showing(SECTION_MAX_LINES)
    }

    fn email_text_showing(&self, max_lines: usize) -> String {
        let mut out = format!("{}\n\n{}\n", self.title, self.summary);
        for section in &self.sections {
            out.push_str(&format!("\n{}:\n", section.heading));
            for line in shown_lines(section, max_lines) {
                out.push_str(&format!("  - {line}\n"));
            }
        }
        if !self.next_steps.is_empty() {
            out.push_str("\nNext steps:\n");
            for step in shown_steps(&self.next_steps, max_lines) {
                out.push_str(&format!("  * {step}\n"));
            }
        }
        out.push_str(&format!(
            "\n-- \nSent by {PRODUCT} ({}).\n",
            self.event_type
        ));
        out
    }

    /// The AWS Chatbot custom notification; anything else is silently dropped by Chatbot.
    pub fn chat_card(&self) -> serde_json::Value {
        self.chat_card_showing(SECTION_MAX_LINES)
    }

    fn chat_card_showing(&self, max_lines: usize) -> serde_json::Value {
        let mut description = self.summary.clone();
        for section in &self.sections {
            description.push_str(&format!("\n\n*{}*", section.heading));
            for line in shown_lines(section, max_lines) {
                description.push_str(&format!("\n• {line}"));
            }
        }
        json!({
            "version": "1.0",
            "source": "custom",
            "id": self.id,
            "content": {
                "textType": "client-markdown",
                "title": self.title,
                "description": description,
                "nextSteps": shown_steps(&self.next_steps, max_lines),
                "keywords": self.keywords,
            },
            "metadata": {
                "threadId": self.thread_id,
                "summary": self.summary,
                "eventType": self.event_type,
                "relatedResources": self.related_resources.iter().take(RELATED_MAX).collect::<Vec<_>>(),
                "additionalContext": { "level": self.level.as_str() },
            }
        })
    }

    pub fn render(&self) -> Rendered {
        let capped = self.capped();
        let body = |n: &Notification, max_lines: usize| {
            let text = n.email_text_showing(max_lines);
            json!({
                "default": text,
                "email": text,
                "https": n.chat_card_showing(max_lines).to_string(),
            })
            .to_string()
        };
        let mut message = body(&capped, SECTION_MAX_LINES);
        for max_lines in [20, 5, 0] {
            if message.len() <= MESSAGE_MAX_BYTES {
                break;
            }
            message = body(&capped, max_lines);
        }
        if message.len() > MESSAGE_MAX_BYTES {
            // Even the headings alone are too many: say so rather than lose the message.
            let mut bare = capped.clone();
            bare.summary.push_str(&format!(
                " ({} sections and {} next steps left out to stay under the SNS size limit; see the function's log.)",
                capped.sections.len(),
                capped.next_steps.len()
            ));
            bare.sections.clear();
            bare.next_steps.clear();
            bare.related_resources.clear();
            message = body(&bare, 0);
        }
        Rendered {
            subject: self.subject(),
            message,
            attributes: vec![
                ("event_type", self.event_type.clone()),
                ("severity", self.level.as_str().to_owned()),
            ],
        }
    }
}

/// Free text a message carries outside its sections, capped so one field cannot break the size limit.
const TITLE_MAX_CHARS: usize = 250;
const SUMMARY_MAX_CHARS: usize = 2_000;
const HEADING_MAX_CHARS: usize = 200;
const KEYWORDS_MAX: usize = 20;
const KEYWORD_MAX_CHARS: usize = 64;

impl Notification {
    fn capped(&self) -> Notification {
        let mut n = self.clone();
        n.title = truncate_chars(&n.title, TITLE_MAX_CHARS);
        n.summary = truncate_chars(&n.summary, SUMMARY_MAX_CHARS);
        for section in &mut n.sections {
            section.heading = truncate_chars(&section.heading, HEADING_MAX_CHARS);
        }
        n.keywords.truncate(KEYWORDS_MAX);
        for keyword in &mut n.keywords {
            *keyword = truncate_chars(keyword, KEYWORD_MAX_CHARS);
        }
        n.related_resources.truncate(RELATED_MAX);
        n
    }
}

/// `1 instance`, `3 instances`: a count with its noun, for titles people read.
pub fn count(n: usize, singular: &str, plural: &str) -> String {
    format!("{n} {}", if n == 1 { singular } else { plural })
}

/// Checks `card` against the AWS Chatbot custom notification schema: the required fields and the
/// type of every field Chatbot reads. Chatbot drops an invalid card silently, so tests check each
/// message kind with this; every problem found is returned.
pub fn validate_chat_card(card: &serde_json::Value) -> Result<(), Vec<String>> {
    use serde_json::Value;
    let mut problems = Vec::new();
    let mut expect =
        |path: &str, value: Option<&Value>, ok: fn(&Value) -> bool, required: bool, what: &str| {
            match value {
                None if required => problems.push(format!("{path} is required")),
                Some(v) if !ok(v) => problems.push(format!("{path} must be {what}, got {v}")),
                _ => {}
            }
        };
    let string = |v: &Value| v.is_string();
    let text = |v: &Value| v.as_str().is_some_and(|s| !s.trim().is_empty());
    let strings = |v: &Value| v.as_array().is_some_and(|a| a.iter().all(Value::is_string));
    let object = |v: &Value| v.is_object();
    expect("$", Some(card), object, true, "an object");
    expect(
        "version",
        card.get("version"),
        |v| v == "1.0",
        true,
        "\"1.0\"",
    );
    expect(
        "source",
        card.get("source"),
        |v| v == "custom",
        true,
        "\"custom\"",
    );
    expect("id", card.get("id"), string, false, "a string");
    expect("content", card.get("content"), object, true, "an object");
    let content = card.get("content");
    let field = |parent: Option<&Value>, name: &str| parent.and_then(|p| p.get(name)).cloned();
    let c = |name: &str| field(content, name);
    expect(
        "content.textType",
        c("textType").as_ref(),
        |v| v == "client-markdown",
        false,
        "\"client-markdown\"",
    );
    expect(
        "content.title",
        c("title").as_ref(),
        text,
        true,
        "a non-empty string",
    );
    expect(
        "content.description",
        c("description").as_ref(),
        string,
        true,
        "a string",
    );
    expect(
        "content.nextSteps",
        c("nextSteps").as_ref(),
        strings,
        false,
        "an array of strings",
    );
    expect(
        "content.keywords",
        c("keywords").as_ref(),
        strings,
        false,
        "an array of strings",
    );
    let metadata = card.get("metadata");
    expect("metadata", metadata, object, false, "an object");
    let m = |name: &str| field(metadata, name);
    expect(
        "metadata.threadId",
        m("threadId").as_ref(),
        text,
        false,
        "a non-empty string",
    );
    expect(
        "metadata.summary",
        m("summary").as_ref(),
        string,
        false,
        "a string",
    );
    expect(
        "metadata.eventType",
        m("eventType").as_ref(),
        string,
        false,
        "a string",
    );
    expect(
        "metadata.relatedResources",
        m("relatedResources").as_ref(),
        strings,
        false,
        "an array of strings",
    );
    expect(
        "metadata.additionalContext",
        m("additionalContext").as_ref(),
        |v| {
            v.as_object()
                .is_some_and(|o| o.values().all(Value::is_string))
        },
        false,
        "an object of strings",
    );
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// Next steps, at most ten (or fewer when the message must shrink), the rest counted.
fn shown_steps(steps: &[String], max_lines: usize) -> Vec<String> {
    shown_lines(
        &Section {
            heading: String::new(),
            lines: steps.to_vec(),
        },
        max_lines.min(10),
    )
}

fn shown_lines(section: &Section, max_lines: usize) -> Vec<String> {
    let mut lines: Vec<String> = section
        .lines
        .iter()
        .take(max_lines)
        .map(|line| truncate_chars(line, LINE_MAX_CHARS))
        .collect();
    if section.lines.len() > max_lines {
        lines.push(format!("... and {} more", section.lines.len() - max_lines));
    }
    lines
}

fn truncate_chars(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max - 1).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Notification {
        Notification {
            id: "scan-7bf73129".into(),
            event_type: "scan.started".into(),
            level: Level::Info,
            title: "Patch scan started on 3 instances".into(),
            summary: "Scan and kernel facts sent to 3 of 4 instances.".into(),
            sections: vec![Section {
                heading: "Skipped".into(),
                lines: vec!["i-0abc: not Amazon Linux (Ubuntu 22.04)".into()],
            }],
            next_steps: vec!["Nothing to do.".into()],
            keywords: vec!["scan".into()],
            thread_id: "scan-2026-12-03".into(),
            related_resources: vec!["i-0abc".into()],
        }
    }

    #[test]
    fn subject_is_one_short_line() {
        let mut n = sample();
        n.title = format!("line one\nline two {}", "x".repeat(200));
        let subject = n.subject();
        assert!(subject.chars().count() < 100);
        assert!(!subject.contains('\n'));
        assert!(subject.starts_with("[livepatch-autopilot] line one line two"));
        assert!(subject.ends_with("...") && subject.is_ascii());
    }

    #[test]
    fn one_publish_carries_text_and_card() {
        let rendered = sample().render();
        let body: serde_json::Value = serde_json::from_str(&rendered.message).unwrap();
        assert_eq!(body["default"], body["email"]);
        assert!(body["email"]
            .as_str()
            .unwrap()
            .contains("  - i-0abc: not Amazon Linux"));
        let card: serde_json::Value =
            serde_json::from_str(body["https"].as_str().unwrap()).unwrap();
        assert_eq!(card["version"], "1.0");
        assert_eq!(card["source"], "custom");
        assert_eq!(card["content"]["textType"], "client-markdown");
        assert_eq!(card["metadata"]["threadId"], "scan-2026-12-03");
        assert_eq!(card["id"], "scan-7bf73129");
        assert!(card["content"]["description"]
            .as_str()
            .unwrap()
            .contains("*Skipped*\n• i-0abc"));
        assert_eq!(
            rendered.attributes,
            vec![
                ("event_type", "scan.started".to_owned()),
                ("severity", "info".to_owned())
            ]
        );
    }

    #[test]
    fn a_huge_message_stays_under_the_sns_limit() {
        let mut n = sample();
        n.sections = (0..20)
            .map(|s| Section {
                heading: format!("Section {s}"),
                lines: (0..500)
                    .map(|i| format!("i-{i:017x}: {}", "kernel-livepatch-x ".repeat(60)))
                    .collect(),
            })
            .collect();
        n.related_resources = (0..5000).map(|i| format!("i-{i:017x}")).collect();
        n.next_steps = (0..2000)
            .map(|i| format!("Read why: aws ssm get-command-invocation --command-id {i:036} --instance-id i-{i:017x}"))
            .collect();
        let rendered = n.render();
        assert!(
            rendered.message.len() <= MESSAGE_MAX_BYTES,
            "{}",
            rendered.message.len()
        );
        let body: serde_json::Value = serde_json::from_str(&rendered.message).unwrap();
        let email = body["email"].as_str().unwrap();
        assert!(
            email.contains("... and 495 more") || email.contains("... and 500 more"),
            "fewer lines shown"
        );
        assert!(email
            .lines()
            .all(|l| l.chars().count() <= LINE_MAX_CHARS + 8));
        let card: serde_json::Value =
            serde_json::from_str(body["https"].as_str().unwrap()).unwrap();
        assert_eq!(
            card["metadata"]["relatedResources"]
                .as_array()
                .unwrap()
                .len(),
            RELATED_MAX
        );
        assert!(card["content"]["nextSteps"].as_array().unwrap().len() <= 11);
    }

    #[test]
    fn long_sections_are_summarised() {
        let mut n = sample();
        n.sections[0].lines = (0..120).map(|i| format!("i-{i:08x}: stopped")).collect();
        let text = n.email_text();
        assert_eq!(text.matches(": stopped").count(), SECTION_MAX_LINES);
        assert!(text.contains("... and 70 more"));
    }

    #[test]
    fn every_rendered_card_is_a_valid_custom_notification() {
        assert_eq!(validate_chat_card(&sample().chat_card()), Ok(()));
        let rendered = sample().render();
        let body: serde_json::Value = serde_json::from_str(&rendered.message).unwrap();
        let card: serde_json::Value =
            serde_json::from_str(body["https"].as_str().unwrap()).unwrap();
        assert_eq!(validate_chat_card(&card), Ok(()));
    }

    #[test]
    fn invalid_cards_are_refused_with_every_problem() {
        let mut card = sample().chat_card();
        card["version"] = json!("2.0");
        card["content"]["title"] = json!("  ");
        card["content"]["nextSteps"] = json!(["ok", 3]);
        card["metadata"]["additionalContext"] = json!({"level": 1});
        let problems = validate_chat_card(&card).unwrap_err();
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(problems.iter().any(|p| p.starts_with("content.title")));
        let problems = validate_chat_card(&json!({"source": "aws.ssm"})).unwrap_err();
        assert!(problems.contains(&"version is required".to_owned()));
        assert!(problems.contains(&"content is required".to_owned()));
    }

    #[test]
    fn subjects_are_ascii_even_when_cut_or_given_unicode() {
        let mut n = sample();
        n.title = format!("Réboot “window” – {}", "x".repeat(200));
        let subject = n.subject();
        assert!(subject.is_ascii(), "{subject}");
        assert!(subject.len() < 100);
        assert!(subject.ends_with("..."));
        assert!(subject.contains("R?boot \"window\" - x"), "{subject}");
        assert!(n.render().subject.is_ascii());
    }

    #[test]
    fn a_huge_summary_title_or_heading_cannot_break_the_size_limit() {
        let mut n = sample();
        n.title = "t".repeat(300_000);
        n.summary = "s".repeat(800_000);
        n.keywords = (0..10_000)
            .map(|i| format!("k{i}{}", "x".repeat(100)))
            .collect();
        n.sections = (0..5_000)
            .map(|i| Section {
                heading: format!("{i}{}", "h".repeat(1_000)),
                lines: vec!["x".into()],
            })
            .collect();
        let rendered = n.render();
        assert!(
            rendered.message.len() <= MESSAGE_MAX_BYTES,
            "{}",
            rendered.message.len()
        );
        let body: serde_json::Value = serde_json::from_str(&rendered.message).unwrap();
        let card: serde_json::Value =
            serde_json::from_str(body["https"].as_str().unwrap()).unwrap();
        assert_eq!(validate_chat_card(&card), Ok(()));
        assert!(body["email"]
            .as_str()
            .unwrap()
            .contains("left out to stay under the SNS size limit"));
    }
}
