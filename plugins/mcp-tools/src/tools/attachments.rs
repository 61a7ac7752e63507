//! Files attached to notes. Bytes travel as base64 (or as text for text files) inside the
//! JSON of a tool call, so sizes are capped well below the host's output limit.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use holt_plugin_sdk::{attachments, config};

use super::count;
use crate::args::Args;
use crate::catalog::Outcome;
use crate::fail::{About, explain};

/// The default cap on an attachment's decoded size, both ways.
const DEFAULT_MAX_BYTES: usize = 4 << 20;

/// The cap: the operator's `max_attachment_bytes`, or 4 MiB.
fn max_bytes() -> usize {
    config::get("max_attachment_bytes")
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(DEFAULT_MAX_BYTES)
}

pub fn list_attachments(args: &Args) -> Outcome {
    let path = args.required("path")?;
    let files = attachments::list(path).map_err(|err| explain(err, About::Note(path)))?;
    if files.is_empty() {
        return Ok(format!("{path} has no attachments."));
    }
    let mut out = format!("{} of {path}:\n", count(files.len(), "attachment"));
    for file in &files {
        out.push_str(&format!("- {} ({} bytes)\n", file.name, file.size));
    }
    Ok(out)
}

pub fn upload_attachment(args: &Args) -> Outcome {
    let path = args.required("path")?;
    let name = args.required("name")?;
    let max = max_bytes();
    let data = match (args.text("content_base64"), args.text("text")) {
        (Some(_), Some(_)) => {
            return Err("Give either content_base64 or text, not both.".into());
        }
        (None, None) => {
            return Err(
                "Give the file's content: text for a text file, or content_base64 for any file."
                    .into(),
            );
        }
        (None, Some(text)) => text.as_bytes().to_vec(),
        (Some(encoded), None) => {
            // Checked before decoding, so an oversized upload costs no memory.
            if encoded.len() / 4 * 3 > max + 3 {
                return Err(too_large(encoded.len() / 4 * 3, max));
            }
            let compact: String = encoded.split_whitespace().collect();
            STANDARD.decode(compact.as_bytes()).map_err(|e| {
                format!("content_base64 is not valid standard base64 ({e}); encode the file's bytes with padding.")
            })?
        }
    };
    if data.len() > max {
        return Err(too_large(data.len(), max));
    }
    let message = args.text("message").unwrap_or("");
    let message = if message.trim().is_empty() {
        format!("Attach {name} to {path}")
    } else {
        message.to_string()
    };
    let revision = attachments::write(path, name, &data, &message)
        .map_err(|err| explain(err, About::Note(path)))?;
    Ok(format!(
        "Attached {name} ({} bytes) to {path} at revision {revision}.",
        data.len()
    ))
}

pub fn download_attachment(args: &Args) -> Outcome {
    let path = args.required("path")?;
    let name = args.required("name")?;
    let revision = args.text("revision");
    let max = max_bytes();
    if revision.is_none()
        && let Ok(files) = attachments::list(path)
        && let Some(file) = files.iter().find(|f| f.name == name)
        && file.size as usize > max
    {
        return Err(too_large(file.size as usize, max));
    }
    let data = attachments::read(path, name, revision)
        .map_err(|err| explain(err, About::Attachment(path, name)))?;
    if data.len() > max {
        return Err(too_large(data.len(), max));
    }
    let header = format!("path: {path}\nname: {name}\nsize: {} bytes\n", data.len());
    Ok(match text_of(&data) {
        Some(text) => format!("{header}encoding: text\n---\n{text}"),
        None => format!("{header}encoding: base64\n---\n{}", STANDARD.encode(&data)),
    })
}

pub fn delete_attachment(args: &Args) -> Outcome {
    let path = args.required("path")?;
    let name = args.required("name")?;
    let message = args.text("message").unwrap_or("");
    let message = if message.trim().is_empty() {
        format!("Delete {name} from {path}")
    } else {
        message.to_string()
    };
    let revision = attachments::delete(path, name, &message)
        .map_err(|err| explain(err, About::Attachment(path, name)))?;
    Ok(format!(
        "Deleted {name} from {path} at revision {revision}."
    ))
}

/// The data as text, if it is UTF-8 without control characters other than whitespace.
fn text_of(data: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(data).ok()?;
    let plain = text
        .chars()
        .all(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t'));
    plain.then_some(text)
}

fn too_large(size: usize, max: usize) -> String {
    format!(
        "The file is {size} bytes, more than the {max} bytes this tool moves at once. Use the \
         wiki's web interface or git for large files."
    )
}
