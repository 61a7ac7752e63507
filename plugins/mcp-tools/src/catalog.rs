//! The tool catalog: every tool's name, description, parameters and handler in one table.
//!
//! The JSON Schema an assistant sees and the argument checks a call goes through are both
//! derived from the same [`Param`] list, so they can never disagree. The catalog depends on
//! nothing about the caller: the host asks for it once and caches it.

use serde_json::{Map, Value, json};

use crate::args::Args;
use crate::tools::{account, attachments, browse, changes, notes};

/// What a tool answers: text for the assistant, or (`Err`) text saying what went wrong and
/// what to do next.
pub type Outcome = Result<String, String>;

/// One tool.
pub struct ToolSpec {
    pub name: &'static str,
    pub description: &'static str,
    /// The tool changes the wiki (the host hides it from read-only callers).
    pub writes: bool,
    pub params: &'static [Param],
    pub run: fn(&Args) -> Outcome,
}

/// One argument of a tool.
pub struct Param {
    pub name: &'static str,
    pub kind: Kind,
    pub required: bool,
    pub description: &'static str,
}

/// The JSON type an argument must have.
#[derive(Clone, Copy)]
pub enum Kind {
    Text,
    /// A whole number between `min` and `max` (inclusive).
    Integer {
        min: u64,
        max: u64,
    },
    Boolean,
    /// An array of at most `max` strings.
    TextList {
        max: usize,
    },
    /// A moment: Unix seconds (a number) or an RFC 3339 date or timestamp (a string).
    Moment,
}

const fn required(name: &'static str, kind: Kind, description: &'static str) -> Param {
    Param {
        name,
        kind,
        required: true,
        description,
    }
}

const fn optional(name: &'static str, kind: Kind, description: &'static str) -> Param {
    Param {
        name,
        kind,
        required: false,
        description,
    }
}

const TEXT: Kind = Kind::Text;
const PATH: &str = "The note's path, without `.md`, e.g. `Guides/Setup`.";
const MESSAGE: &str = "The commit message (a default describing the change if omitted).";
const BASE: &str = "The revision you read the note at (from read_note); the change is refused \
                    if the note changed since, so nobody's edit is lost.";
const SECTION: &str = "A heading path, e.g. `Setup > Linux`: the heading `Linux` inside the \
                       heading `Setup` (matched case-insensitively; a single heading name is \
                       enough when it is unique).";
const OFFSET: Kind = Kind::Integer {
    min: 0,
    max: 100_000,
};

/// Every tool, in the order they are listed.
pub static TOOLS: &[ToolSpec] = &[
    ToolSpec {
        name: "read_note",
        description: "Read a note's Markdown. The answer starts with a header (path, title, \
            revision, updated) and `---`, then the content. Pass the revision as base_revision \
            when you change the note. Give `section` to read only one section, and `revision` \
            to read an older version (revisions come from get_history).",
        writes: false,
        params: &[
            required("path", TEXT, PATH),
            optional(
                "revision",
                TEXT,
                "A commit id (or unique prefix) to read the note as it was then; the current version if omitted.",
            ),
            optional("section", TEXT, SECTION),
        ],
        run: notes::read_note,
    },
    ToolSpec {
        name: "read_notes",
        description: "Read several notes at once (at most 20), each with the same header as \
            read_note. Notes that cannot be read are reported in place; the others are still \
            returned.",
        writes: false,
        params: &[required(
            "paths",
            Kind::TextList { max: 20 },
            "The notes' paths, e.g. [\"Guides/Setup\", \"Home\"].",
        )],
        run: notes::read_notes,
    },
    ToolSpec {
        name: "write_note",
        description: "Create a note, or replace a note's whole content. Creating needs no \
            base_revision; replacing an existing note requires base_revision (from read_note), \
            and is refused if the note changed since. To change part of a note prefer \
            edit_note, edit_section or append_note.",
        writes: true,
        params: &[
            required("path", TEXT, PATH),
            required("content", TEXT, "The note's full Markdown content."),
            optional(
                "base_revision",
                TEXT,
                "Required to overwrite an existing note: the revision you read it at (from read_note).",
            ),
            optional("message", TEXT, MESSAGE),
        ],
        run: notes::write_note,
    },
    ToolSpec {
        name: "edit_note",
        description: "Replace one exact passage of a note: old_string must occur exactly once \
            in the current content (copy it from read_note, whitespace and line breaks \
            included; add surrounding text to make it unique). new_string replaces it.",
        writes: true,
        params: &[
            required("path", TEXT, PATH),
            required(
                "old_string",
                TEXT,
                "The exact text to replace; must occur exactly once.",
            ),
            required(
                "new_string",
                TEXT,
                "The text to put in its place (may be empty to delete it).",
            ),
            optional("base_revision", TEXT, BASE),
            optional("message", TEXT, MESSAGE),
        ],
        run: notes::edit_note,
    },
    ToolSpec {
        name: "append_note",
        description: "Add Markdown at the end of a note (after a blank line), creating the \
            note if it does not exist. Good for logs, journals and running lists.",
        writes: true,
        params: &[
            required("path", TEXT, PATH),
            required("content", TEXT, "The Markdown to add."),
            optional("message", TEXT, MESSAGE),
        ],
        run: notes::append_note,
    },
    ToolSpec {
        name: "edit_section",
        description: "Replace the body of one section of a note: everything under the heading \
            (its subsections included) up to the next heading of the same or a higher level. \
            The heading itself is kept; `content` must not repeat it.",
        writes: true,
        params: &[
            required("path", TEXT, PATH),
            required("section", TEXT, SECTION),
            required(
                "content",
                TEXT,
                "The section's new body (Markdown, without the heading line).",
            ),
            optional("base_revision", TEXT, BASE),
            optional("message", TEXT, MESSAGE),
        ],
        run: notes::edit_section,
    },
    ToolSpec {
        name: "list_notes",
        description: "List notes (path, title, last update, size), sorted by path, optionally \
            only those under a folder, with a tag, or changed since a moment.",
        writes: false,
        params: &[
            optional(
                "prefix",
                TEXT,
                "Only notes under this folder, e.g. `Guides/`.",
            ),
            optional(
                "tag",
                TEXT,
                "Only notes whose front matter has this tag (or category).",
            ),
            optional(
                "updated_since",
                Kind::Moment,
                "Only notes changed at or after this moment: Unix seconds, or RFC 3339 like `2025-01-31` or `2025-01-31T09:00:00Z`.",
            ),
            optional(
                "limit",
                Kind::Integer { min: 1, max: 1000 },
                "At most this many notes (default 100).",
            ),
        ],
        run: browse::list_notes,
    },
    ToolSpec {
        name: "search_notes",
        description: "Full-text search: notes containing all the words (stemmed; the last \
            word also matches as a prefix), best first, with a snippet around the match.",
        writes: false,
        params: &[
            required("query", TEXT, "The words to look for."),
            optional(
                "limit",
                Kind::Integer { min: 1, max: 100 },
                "At most this many hits (default 20).",
            ),
        ],
        run: browse::search_notes,
    },
    ToolSpec {
        name: "semantic_search",
        description: "Find passages by meaning rather than exact words, best first, each with \
            its note, heading and score (where semantic search is on for this wiki; otherwise \
            use search_notes).",
        writes: false,
        params: &[
            required("query", TEXT, "What you are looking for, in plain words."),
            optional(
                "n",
                Kind::Integer { min: 1, max: 50 },
                "At most this many passages (default 10).",
            ),
            optional(
                "max_per_page",
                Kind::Integer { min: 1, max: 10 },
                "At most this many passages from any one note (default 3).",
            ),
        ],
        run: browse::semantic_search,
    },
    ToolSpec {
        name: "get_links",
        description: "The notes a note links to, and the notes linking to it (backlinks).",
        writes: false,
        params: &[required("path", TEXT, PATH)],
        run: browse::get_links,
    },
    ToolSpec {
        name: "find_orphaned_notes",
        description: "Notes no other note links to (candidates for linking or cleaning up).",
        writes: false,
        params: &[],
        run: browse::find_orphaned_notes,
    },
    ToolSpec {
        name: "get_recent_changes",
        description: "The wiki's most recent commits, newest first: revision, time, author, \
            message and the files changed.",
        writes: false,
        params: &[
            optional(
                "limit",
                Kind::Integer { min: 1, max: 200 },
                "At most this many changes (default 20).",
            ),
            optional(
                "offset",
                OFFSET,
                "Skip this many of the newest changes (for paging).",
            ),
        ],
        run: changes::get_recent_changes,
    },
    ToolSpec {
        name: "get_history",
        description: "A note's revisions, newest first (following renames): revision, time, \
            author, kind of change and message. Use the revisions with read_note, diff_note and \
            revert_note.",
        writes: false,
        params: &[
            required("path", TEXT, PATH),
            optional(
                "limit",
                Kind::Integer { min: 1, max: 200 },
                "At most this many revisions (default 20).",
            ),
            optional(
                "offset",
                OFFSET,
                "Skip this many of the newest revisions (for paging).",
            ),
        ],
        run: changes::get_history,
    },
    ToolSpec {
        name: "diff_note",
        description: "A unified diff of a note between two revisions (from get_history).",
        writes: false,
        params: &[
            required("path", TEXT, PATH),
            required("from", TEXT, "The older revision."),
            required("to", TEXT, "The newer revision."),
        ],
        run: changes::diff_note,
    },
    ToolSpec {
        name: "revert_note",
        description: "Restore a note's content as it was at a revision (from get_history), as \
            a new commit; later history is kept. Also brings back a deleted note.",
        writes: true,
        params: &[
            required("path", TEXT, PATH),
            required("revision", TEXT, "The revision whose content to restore."),
            optional("message", TEXT, MESSAGE),
        ],
        run: changes::revert_note,
    },
    ToolSpec {
        name: "rename_note",
        description: "Rename (move) a note with its attachments. By default every `[[link]]` \
            to it in other notes is rewritten to the new name, in the same commit.",
        writes: true,
        params: &[
            required("from", TEXT, "The note's current path."),
            required("to", TEXT, "Its new path."),
            optional(
                "rewrite_links",
                Kind::Boolean,
                "Rewrite links to the note in other notes (default true).",
            ),
            optional("message", TEXT, MESSAGE),
        ],
        run: changes::rename_note,
    },
    ToolSpec {
        name: "delete_note",
        description: "Delete a note and its attachments (a commit: revert_note with a revision \
            from get_history brings it back).",
        writes: true,
        params: &[
            required("path", TEXT, PATH),
            optional("message", TEXT, MESSAGE),
        ],
        run: changes::delete_note,
    },
    ToolSpec {
        name: "list_attachments",
        description: "The files attached to a note, with their sizes.",
        writes: false,
        params: &[required("path", TEXT, PATH)],
        run: attachments::list_attachments,
    },
    ToolSpec {
        name: "upload_attachment",
        description: "Attach a file to a note (replacing one with the same name). Give either \
            `text` for a text file or `content_base64` for any file; at most 4 MiB by default.",
        writes: true,
        params: &[
            required("path", TEXT, "The note to attach the file to."),
            required("name", TEXT, "The file name, e.g. `diagram.png`."),
            optional(
                "content_base64",
                TEXT,
                "The file's bytes in standard base64.",
            ),
            optional(
                "text",
                TEXT,
                "The file's content as text (stored as UTF-8).",
            ),
            optional("message", TEXT, MESSAGE),
        ],
        run: attachments::upload_attachment,
    },
    ToolSpec {
        name: "download_attachment",
        description: "Read a file attached to a note: text files come back as text, other \
            files as base64 (the header says which). At most 4 MiB by default.",
        writes: false,
        params: &[
            required("path", TEXT, "The note the file is attached to."),
            required("name", TEXT, "The file name (from list_attachments)."),
            optional(
                "revision",
                TEXT,
                "A revision to read the file as it was then.",
            ),
        ],
        run: attachments::download_attachment,
    },
    ToolSpec {
        name: "delete_attachment",
        description: "Remove a file attached to a note.",
        writes: true,
        params: &[
            required("path", TEXT, "The note the file is attached to."),
            required("name", TEXT, "The file name (from list_attachments)."),
            optional("message", TEXT, MESSAGE),
        ],
        run: attachments::delete_attachment,
    },
    ToolSpec {
        name: "whoami",
        description: "Who you are on this wiki: your user, your role, what this token may do \
            (read, write, upload, admin), and the wiki's name and URL.",
        writes: false,
        params: &[],
        run: account::whoami,
    },
];

/// The tool called `name`.
pub fn find(name: &str) -> Option<&'static ToolSpec> {
    TOOLS.iter().find(|t| t.name == name)
}

impl ToolSpec {
    /// The JSON Schema of the tool's arguments object.
    pub fn schema(&self) -> Value {
        let mut properties = Map::new();
        for param in self.params {
            let mut schema = param.kind.schema();
            if let Value::Object(fields) = &mut schema {
                fields.insert("description".into(), param.description.into());
            }
            properties.insert(param.name.into(), schema);
        }
        let required: Vec<&str> = self
            .params
            .iter()
            .filter(|p| p.required)
            .map(|p| p.name)
            .collect();
        json!({
            "type": "object",
            "properties": properties,
            "required": required,
            "additionalProperties": false,
        })
    }

    /// The names of its arguments, for error messages.
    pub fn param_names(&self) -> String {
        if self.params.is_empty() {
            return "no arguments".into();
        }
        self.params
            .iter()
            .map(|p| p.name)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl Kind {
    fn schema(self) -> Value {
        match self {
            Kind::Text => json!({"type": "string"}),
            Kind::Integer { min, max } => {
                json!({"type": "integer", "minimum": min, "maximum": max})
            }
            Kind::Boolean => json!({"type": "boolean"}),
            Kind::TextList { max } => {
                json!({"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": max})
            }
            Kind::Moment => json!({"type": ["integer", "string"]}),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_schemas_complete() {
        for (i, tool) in TOOLS.iter().enumerate() {
            assert!(TOOLS[i + 1..].iter().all(|t| t.name != tool.name));
            let schema = tool.schema();
            assert_eq!(schema["type"], "object");
            assert_eq!(schema["additionalProperties"], false);
            assert!(schema["required"].is_array());
        }
    }
}
