//! Reading the list of target users from a file or stdin, one entry at a time.
//!
//! Two shapes are accepted, told apart by the first line that is neither blank nor a comment:
//! - a CSV file whose header names a userPrincipalName or object id column — this includes, as
//!   is, the Entra admin center's "Download users" export (learn: entra
//!   identity/users/users-bulk-download: columns `userPrincipalName`, `displayName`, …,
//!   `objectId`, …; newer exports call the last one `id`) and the bulk-operation templates whose
//!   headers read `User name [userPrincipalName] Required` after a `version:v1.0` line;
//! - otherwise a plain list: one userPrincipalName or object id per line, `#` starting a comment
//!   line.
//!
//! The reader never holds more than one line (plain) or one record (CSV) at a time, so a list of
//! 100 000 users costs no more memory than a list of ten. A bad entry is reported with its line
//! number and the stream goes on; only a failure to read the source at all is an `io::Error`.

use std::collections::{HashSet, VecDeque};
use std::io::{self, BufRead, Read};

use crate::address::UserRef;

/// Lines longer than this cannot hold a user reference (a UPN is at most 113 characters); the
/// excess is discarded unread into memory so a runaway line cannot grow the buffer.
const MAX_LINE_BYTES: usize = 4096;

/// A usable entry: where it came from and the user it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// 1-based line number in the source (for CSV, the line the record starts on).
    pub line: usize,
    /// The text as it appeared (the whole line, or the CSV cell that was used).
    pub raw: String,
    pub user: UserRef,
}

/// An entry that could not be used, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadEntry {
    pub line: usize,
    pub raw: String,
    /// A phrase about the entry, e.g. "contains a control character".
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    Entry(Entry),
    Bad(BadEntry),
}

/// Streaming reader over a target list: yields one [`Item`] per data line or record, lazily.
pub struct TargetReader<R: BufRead> {
    state: State<R>,
    /// The first data line of a plain list, read while detecting the format.
    pending: Option<Item>,
}

enum State<R: BufRead> {
    Plain {
        reader: R,
        line: usize,
        buf: Vec<u8>,
    },
    Csv {
        records: Box<csv::Reader<LineCounter<R>>>,
        /// Line number of the header; the csv reader starts on the line after it.
        header_line: usize,
        columns: Columns,
        record: csv::ByteRecord,
        /// Line of the previous record: line numbers never go backwards.
        last_line: usize,
    },
    Done,
}

/// Which CSV columns hold the user reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Columns {
    upn: Option<usize>,
    id: Option<usize>,
}

impl<R: BufRead> TargetReader<R> {
    /// Reads up to the first data line to decide between CSV and a plain list.
    pub fn new(mut reader: R) -> io::Result<Self> {
        let mut buf = Vec::new();
        let mut line = 0;
        let mut seen_preamble = false;
        loop {
            let Some(overlong) = read_line_capped(&mut reader, &mut buf, MAX_LINE_BYTES)? else {
                return Ok(Self {
                    state: State::Done,
                    pending: None,
                });
            };
            line += 1;
            let bytes = strip_line(&buf, line);
            if overlong {
                return Ok(Self::plain(reader, line, Some(overlong_entry(line, bytes))));
            }
            let Ok(text) = std::str::from_utf8(bytes) else {
                return Ok(Self::plain(reader, line, Some(not_utf8(line, bytes))));
            };
            let trimmed = text.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            // Entra's bulk-operation templates open with a `version:v1.0` line before the header.
            if !seen_preamble && is_template_version_line(trimmed) {
                seen_preamble = true;
                continue;
            }
            if let Some(columns) = header_columns(text) {
                let records = Box::new(
                    csv::ReaderBuilder::new()
                        .has_headers(false)
                        .flexible(true)
                        .comment(Some(b'#'))
                        .from_reader(LineCounter::new(reader)),
                );
                return Ok(Self {
                    state: State::Csv {
                        records,
                        header_line: line,
                        columns,
                        record: csv::ByteRecord::new(),
                        last_line: line,
                    },
                    pending: None,
                });
            }
            let first = if looks_like_header(text) {
                Some(Item::Bad(BadEntry {
                    line,
                    raw: text.to_owned(),
                    reason: format!(
                        "looks like a CSV header without a user column: the accepted column names are {}",
                        accepted_columns()
                    ),
                }))
            } else {
                plain_item(line, text)
            };
            return Ok(Self::plain(reader, line, first));
        }
    }

    fn plain(reader: R, line: usize, pending: Option<Item>) -> Self {
        Self {
            state: State::Plain {
                reader,
                line,
                buf: Vec::new(),
            },
            pending,
        }
    }
}

impl<R: BufRead> Iterator for TargetReader<R> {
    type Item = io::Result<Item>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(item) = self.pending.take() {
            return Some(Ok(item));
        }
        let result = match &mut self.state {
            State::Done => return None,
            State::Plain { reader, line, buf } => next_plain(reader, line, buf),
            State::Csv {
                records,
                header_line,
                columns,
                record,
                last_line,
            } => next_csv(records, *header_line, *columns, record, last_line),
        };
        match result {
            Ok(Some(item)) => Some(Ok(item)),
            Ok(None) => {
                self.state = State::Done;
                None
            }
            Err(e) => {
                // A source that failed once is not read again.
                self.state = State::Done;
                Some(Err(e))
            }
        }
    }
}

fn next_plain<R: BufRead>(
    reader: &mut R,
    line: &mut usize,
    buf: &mut Vec<u8>,
) -> io::Result<Option<Item>> {
    loop {
        let Some(overlong) = read_line_capped(reader, buf, MAX_LINE_BYTES)? else {
            return Ok(None);
        };
        *line += 1;
        let bytes = strip_line(buf, *line);
        if overlong {
            return Ok(Some(overlong_entry(*line, bytes)));
        }
        match std::str::from_utf8(bytes) {
            Ok(text) => {
                if let Some(item) = plain_item(*line, text) {
                    return Ok(Some(item));
                }
            }
            Err(_) => return Ok(Some(not_utf8(*line, bytes))),
        }
    }
}

/// One line of a plain list: `None` for blank and comment lines.
fn plain_item(line: usize, text: &str) -> Option<Item> {
    let trimmed = text.trim();
    // A comment is a line whose first non-blank character is '#'. '#' is legal in a UPN (guest
    // accounts carry `#EXT#`) but never first in practice; a UPN that does start with '#' can be
    // listed in quotes.
    if trimmed.is_empty() || trimmed.starts_with('#') {
        return None;
    }
    Some(to_item(line, text, unquote(trimmed)))
}

fn next_csv<R: BufRead>(
    records: &mut csv::Reader<LineCounter<R>>,
    header_line: usize,
    columns: Columns,
    record: &mut csv::ByteRecord,
    last_line: &mut usize,
) -> io::Result<Option<Item>> {
    loop {
        if !records.read_byte_record(record).map_err(csv_to_io)? {
            return Ok(None);
        }
        let line = (header_line + 1 + record_start_line(records, record)).max(*last_line);
        *last_line = line;
        // Spreadsheets leave rows of empty cells (",,,,") at the end; they are not entries.
        if record.iter().all(|cell| cell.trim_ascii().is_empty()) {
            continue;
        }
        return Ok(Some(csv_item(line, columns, record)));
    }
}

/// Zero-based line (counted from where the csv reader started) on which `record` begins.
///
/// The csv crate's own `Position::line` is not usable here: it does not count CRLF endings,
/// skipped blank lines or comment lines. Its reader position after a record is exact, though: one
/// byte past the end of the record's content (the first byte of its terminator is consumed) or
/// the end of input. So the record's last line is the number of '\n' before its end, and its
/// first line is that minus the '\n' inside its (quoted) fields.
/// (A quoted field left open at the end of input and ending in '\n' is miscounted by one; the
/// caller keeps line numbers from going backwards.)
fn record_start_line<R: Read>(
    records: &mut csv::Reader<LineCounter<R>>,
    record: &csv::ByteRecord,
) -> usize {
    let after = records.position().byte();
    let counter = records.get_mut();
    let mut before_end = counter.newlines_before(after);
    if after > 0 && counter.last_newline == Some(after - 1) {
        // That '\n' is the record's terminator, not part of it.
        before_end -= 1;
    }
    let inside = record
        .iter()
        .map(|field| field.iter().filter(|&&b| b == b'\n').count())
        .sum::<usize>();
    before_end.saturating_sub(inside)
}

/// Passes bytes through to the csv reader, remembering where the '\n' bytes were so that record
/// positions can be turned into line numbers. Offsets already counted are dropped, so the queue
/// never holds more than the csv reader's read-ahead.
struct LineCounter<R> {
    inner: R,
    offset: u64,
    pending: VecDeque<u64>,
    counted: usize,
    last_newline: Option<u64>,
}

impl<R> LineCounter<R> {
    fn new(inner: R) -> Self {
        Self {
            inner,
            offset: 0,
            pending: VecDeque::new(),
            counted: 0,
            last_newline: None,
        }
    }

    /// Number of '\n' at offsets below `pos`; `pos` must not decrease between calls.
    fn newlines_before(&mut self, pos: u64) -> usize {
        while let Some(&nl) = self.pending.front() {
            if nl >= pos {
                break;
            }
            self.pending.pop_front();
            self.counted += 1;
            self.last_newline = Some(nl);
        }
        self.counted
    }
}

impl<R: Read> Read for LineCounter<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let start = self.offset;
        self.pending.extend(
            buf[..n]
                .iter()
                .enumerate()
                .filter(|(_, &b)| b == b'\n')
                .map(|(i, _)| start + i as u64),
        );
        self.offset += n as u64;
        Ok(n)
    }
}

/// Prefer the userPrincipalName cell; use the id cell when the UPN cell is empty or unusable,
/// since an export's object id names the same user unambiguously.
fn csv_item(line: usize, columns: Columns, record: &csv::ByteRecord) -> Item {
    let cell = |col: Option<usize>| {
        col.and_then(|i| record.get(i))
            .filter(|c| !c.trim_ascii().is_empty())
    };
    let upn = cell(columns.upn).map(|c| cell_item(line, c));
    if let Some(item @ Item::Entry(_)) = &upn {
        return item.clone();
    }
    let id = cell(columns.id).map(|c| cell_item(line, c));
    match (upn, id) {
        (_, Some(item @ Item::Entry(_))) => item,
        (Some(bad), _) | (None, Some(bad)) => bad,
        (None, None) => Item::Bad(BadEntry {
            line,
            raw: record_text(record),
            reason: "has neither a userPrincipalName nor an id".to_owned(),
        }),
    }
}

fn cell_item(line: usize, cell: &[u8]) -> Item {
    match std::str::from_utf8(cell) {
        Ok(text) => to_item(line, text, unquote(text.trim())),
        Err(_) => not_utf8(line, cell),
    }
}

fn to_item(line: usize, raw: &str, cleaned: &str) -> Item {
    match UserRef::parse(cleaned) {
        Ok(user) => Item::Entry(Entry {
            line,
            raw: raw.to_owned(),
            user,
        }),
        Err(e) => Item::Bad(BadEntry {
            line,
            raw: raw.to_owned(),
            reason: e.to_string(),
        }),
    }
}

fn not_utf8(line: usize, bytes: &[u8]) -> Item {
    Item::Bad(BadEntry {
        line,
        raw: String::from_utf8_lossy(bytes).into_owned(),
        reason: "is not valid UTF-8".to_owned(),
    })
}

fn overlong_entry(line: usize, bytes: &[u8]) -> Item {
    Item::Bad(BadEntry {
        line,
        raw: String::from_utf8_lossy(bytes).into_owned(),
        reason: format!("is longer than {MAX_LINE_BYTES} bytes"),
    })
}

fn record_text(record: &csv::ByteRecord) -> String {
    let cells: Vec<_> = record.iter().map(String::from_utf8_lossy).collect();
    cells.join(",")
}

/// Removes one pair of matching surrounding quotes (`"…"` or `'…'`) and the whitespace inside
/// them. A UPN can hold `'` but cannot both start and end with one (a domain never ends in `'`).
fn unquote(s: &str) -> &str {
    for q in ['"', '\''] {
        if let Some(inner) = s.strip_prefix(q).and_then(|r| r.strip_suffix(q)) {
            return inner.trim();
        }
    }
    s
}

/// Drops the line ending (LF or CRLF) and, on line 1, a UTF-8 byte order mark.
fn strip_line(buf: &[u8], line: usize) -> &[u8] {
    let mut bytes = buf;
    if line == 1 {
        bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    }
    bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    bytes.strip_suffix(b"\r").unwrap_or(bytes)
}

/// Reads one line (up to and including '\n') into `buf`, keeping at most `cap` bytes and
/// skipping the rest of an overlong line. `None` at end of input, else whether it was cut.
fn read_line_capped<R: BufRead>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    cap: usize,
) -> io::Result<Option<bool>> {
    buf.clear();
    let mut read_any = false;
    let mut overlong = false;
    loop {
        let available = match reader.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            return Ok(read_any.then_some(overlong));
        }
        read_any = true;
        let (chunk, at_end) = match available.iter().position(|&b| b == b'\n') {
            Some(i) => (&available[..=i], true),
            None => (available, false),
        };
        let room = cap.saturating_sub(buf.len());
        if chunk.len() > room {
            overlong = true;
        }
        buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
        let used = chunk.len();
        reader.consume(used);
        if at_end {
            return Ok(Some(overlong));
        }
    }
}

fn csv_to_io(e: csv::Error) -> io::Error {
    if e.is_io_error() {
        match e.into_kind() {
            csv::ErrorKind::Io(io) => io,
            other => io::Error::other(format!("{other:?}")),
        }
    } else {
        io::Error::new(io::ErrorKind::InvalidData, e)
    }
}

/// `version:v1.0` (possibly followed by empty CSV cells), the first line of Entra's bulk templates.
fn is_template_version_line(s: &str) -> bool {
    let s = s.trim_end_matches([',', ' ', '\t']);
    const PREFIX: &str = "version:v";
    s.len() > PREFIX.len()
        && s.get(..PREFIX.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(PREFIX))
}

/// If `line` is a CSV header naming a recognised column, where the UPN and id columns are.
fn header_columns(line: &str) -> Option<Columns> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(line.as_bytes());
    let mut record = csv::StringRecord::new();
    if !reader.read_record(&mut record).ok()? {
        return None;
    }
    let mut columns = Columns {
        upn: None,
        id: None,
    };
    let named = |names: &[&str], cell: &str| names.iter().any(|n| n.eq_ignore_ascii_case(cell));
    for (i, cell) in record.iter().enumerate() {
        let cell = normalise_header(cell);
        if columns.upn.is_none() && named(UPN_COLUMNS, &cell) {
            columns.upn = Some(i);
        } else if columns.id.is_none() && named(ID_COLUMNS, &cell) {
            columns.id = Some(i);
        }
    }
    (columns.upn.is_some() || columns.id.is_some()).then_some(columns)
}

/// Header names of a column of userPrincipalNames (compared ignoring case and spaces).
const UPN_COLUMNS: &[&str] = &["userPrincipalName", "UPN"];
/// Header names of a column of object ids.
const ID_COLUMNS: &[&str] = &["id", "objectId"];

/// "userPrincipalName, UPN, id or objectId", for messages.
fn accepted_columns() -> String {
    let names: Vec<&str> = UPN_COLUMNS.iter().chain(ID_COLUMNS).copied().collect();
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => names.join(""),
    }
}

/// A first line of several comma-separated names, none of them a user: a CSV header whose
/// columns [`header_columns`] did not recognise, rather than a line of a plain list.
fn looks_like_header(line: &str) -> bool {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(line.as_bytes());
    let mut record = csv::StringRecord::new();
    if !reader.read_record(&mut record).unwrap_or(false) || record.len() < 2 {
        return false;
    }
    record.iter().all(|cell| {
        let cell = unquote(cell.trim());
        !cell.is_empty() && !cell.contains('@') && UserRef::parse(cell).is_err()
    })
}

/// Header cell to a comparable name: "User principal name" → "userprincipalname",
/// "Object ID" → "objectid", "User name [userPrincipalName] Required" → "userprincipalname".
fn normalise_header(cell: &str) -> String {
    let cell = cell.trim_start_matches('\u{feff}');
    let cell = unquote(cell.trim());
    let name = match (cell.find('['), cell.find(']')) {
        (Some(open), Some(close)) if open < close => &cell[open + 1..close],
        _ => cell,
    };
    name.chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Case-insensitive de-duplication by [`UserRef::dedup_key`].
#[derive(Debug, Default)]
pub struct Dedup {
    seen: HashSet<String>,
}

impl Dedup {
    pub fn new() -> Self {
        Self::default()
    }

    /// True the first time `key` is offered, false on every repeat.
    pub fn first_time(&mut self, key: &str) -> bool {
        if self.seen.contains(key) {
            return false;
        }
        self.seen.insert(key.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::io::{BufReader, Cursor, Read};

    fn read_all(input: &[u8]) -> Vec<Item> {
        TargetReader::new(Cursor::new(input.to_vec()))
            .unwrap()
            .collect::<io::Result<Vec<_>>>()
            .unwrap()
    }

    /// (line, user as text) for entries, (line, reason) for bad entries.
    fn summary(items: &[Item]) -> Vec<(usize, Result<String, String>)> {
        items
            .iter()
            .map(|i| match i {
                Item::Entry(e) => (e.line, Ok(e.user.to_string())),
                Item::Bad(b) => (b.line, Err(b.reason.clone())),
            })
            .collect()
    }

    const ID: &str = "0b6d4b9e-8f2a-4c1d-9e3f-5a6b7c8d9e0f";

    #[test]
    fn plain_list_with_bom_crlf_blanks_comments_and_quotes() {
        let input = format!(
            "\u{feff}# targets for INC-1234\r\n\r\nadele@contoso.com\r\n  \"Bob@Contoso.com\"  \r\n\t'{}'\r\n# done\r\npradeep_fabrikam.com#EXT#@contoso.onmicrosoft.com",
            ID.to_uppercase()
        );
        assert_eq!(
            summary(&read_all(input.as_bytes())),
            vec![
                (3, Ok("adele@contoso.com".into())),
                (4, Ok("Bob@Contoso.com".into())),
                (5, Ok(ID.into())),
                (
                    7,
                    Ok("pradeep_fabrikam.com#EXT#@contoso.onmicrosoft.com".into())
                ),
            ]
        );
    }

    #[test]
    fn bom_before_first_entry() {
        let items = read_all(b"\xEF\xBB\xBFadele@contoso.com\n");
        assert_eq!(summary(&items), vec![(1, Ok("adele@contoso.com".into()))]);
        let Item::Entry(e) = &items[0] else { panic!() };
        assert_eq!(e.raw, "adele@contoso.com");
    }

    #[test]
    fn quoted_hash_is_an_entry_not_a_comment() {
        let items = read_all(b"\"#x@contoso.com\"\n#y@contoso.com\n");
        assert_eq!(summary(&items), vec![(1, Ok("#x@contoso.com".into()))]);
    }

    #[test]
    fn bad_entries_keep_going_with_line_numbers() {
        let mut input = b"adele@contoso.com\nnot a user\n".to_vec();
        input.extend_from_slice(b"caf\xC3\xA9\xFF@contoso.com\n");
        input.extend_from_slice(format!("{}@contoso.com\n", "a".repeat(70)).as_bytes());
        input.extend_from_slice(b"a\x07b@contoso.com\n\nbob@contoso.com");
        assert_eq!(
            summary(&read_all(&input)),
            vec![
                (1, Ok("adele@contoso.com".into())),
                (2, Err("contains whitespace".into())),
                (3, Err("is not valid UTF-8".into())),
                (
                    4,
                    Err("local part is 70 characters; Entra allows at most 64".into())
                ),
                (5, Err("contains a control character".into())),
                (7, Ok("bob@contoso.com".into())),
            ]
        );
    }

    #[test]
    fn invalid_utf8_on_the_first_line_is_a_bad_entry() {
        assert_eq!(
            summary(&read_all(b"\xFF\xFE\nadele@contoso.com\n")),
            vec![
                (1, Err("is not valid UTF-8".into())),
                (2, Ok("adele@contoso.com".into()))
            ]
        );
    }

    #[test]
    fn overlong_line_is_bad_and_bounded() {
        let mut input = vec![b'a'; 1_000_000];
        input.extend_from_slice(b"\nadele@contoso.com\n");
        let items = read_all(&input);
        assert_eq!(
            summary(&items),
            vec![
                (1, Err(format!("is longer than {MAX_LINE_BYTES} bytes"))),
                (2, Ok("adele@contoso.com".into()))
            ]
        );
        let Item::Bad(b) = &items[0] else { panic!() };
        assert!(b.raw.len() <= MAX_LINE_BYTES);
    }

    #[test]
    fn empty_and_comment_only_inputs_yield_nothing() {
        assert!(read_all(b"").is_empty());
        assert!(read_all(b"\xEF\xBB\xBF").is_empty());
        assert!(read_all(b"# nothing\r\n\r\n   \n").is_empty());
    }

    /// The header of the Entra admin center "Download users" export (learn: users-bulk-download).
    const ENTRA_EXPORT_HEADER: &str = "userPrincipalName,displayName,surname,mail,givenName,objectId,userType,jobTitle,department,accountEnabled,usageLocation,streetAddress,state,country,physicalDeliveryOfficeName,city,postalCode,telephoneNumber,mobile,authenticationAlternativePhoneNumber,authenticationEmail,alternateEmailAddress,ageGroup,consentProvidedForMinor,legalAgeGroupClassification";

    #[test]
    fn entra_export_csv_works_as_is() {
        let input = format!(
            "\u{feff}{ENTRA_EXPORT_HEADER}\r\n\
             adele@contoso.com,\"Vance, Adele\",Vance,adele@contoso.com,Adele,{ID},Member,,,True,US,,,,,,,,,,,,,,\r\n\
             pradeep_fabrikam.com#EXT#@contoso.onmicrosoft.com,\"Pradeep\r\n(guest)\",,,,11111111-2222-3333-4444-555555555555,Guest\r\n\
             ,,,,,,,,,\r\n\
             ,No UPN,,,,{ID},Member\r\n\
             bad user,Broken,,,,,Member\r\n\
             ,,x,,,,\r\n"
        );
        assert_eq!(
            summary(&read_all(input.as_bytes())),
            vec![
                (2, Ok("adele@contoso.com".into())),
                (
                    3,
                    Ok("pradeep_fabrikam.com#EXT#@contoso.onmicrosoft.com".into())
                ),
                (6, Ok(ID.into())),
                (7, Err("contains whitespace".into())),
                (8, Err("has neither a userPrincipalName nor an id".into())),
            ]
        );
    }

    #[test]
    fn newer_export_with_id_column_and_unusable_upn_falls_back_to_id() {
        let input = format!(
            "userPrincipalName,displayName,id\nadèle@contoso.com,Adèle,{ID}\nadèle@contoso.com,Adèle,\n"
        );
        let items = read_all(input.as_bytes());
        assert_eq!(
            summary(&items),
            vec![
                (2, Ok(ID.into())),
                (3, Err(
                    "contains the non-ASCII character 'è'; Entra does not allow accented or other non-ASCII characters in a userPrincipalName"
                        .into()
                )),
            ]
        );
        let Item::Entry(e) = &items[0] else { panic!() };
        assert_eq!(e.raw, ID);
    }

    #[test]
    fn csv_with_id_column_only() {
        let input = format!("\"Object ID\",\"Display name\"\n\"{ID}\",\"Adele\"\n{{{ID}}},x\n");
        assert_eq!(
            summary(&read_all(input.as_bytes())),
            vec![(2, Ok(ID.into())), (3, Ok(ID.into()))]
        );
    }

    #[test]
    fn header_spellings() {
        for header in [
            "UPN",
            " User Principal Name ",
            "\"userprincipalname\"",
            "User name [userPrincipalName] Required",
        ] {
            assert_eq!(
                header_columns(&format!("x,{header}")),
                Some(Columns {
                    upn: Some(1),
                    id: None
                }),
                "{header}"
            );
        }
        for header in ["id", "objectId", "object id", "Object ID"] {
            assert_eq!(
                header_columns(header),
                Some(Columns {
                    upn: None,
                    id: Some(0)
                }),
                "{header}"
            );
        }
        assert_eq!(header_columns("adele@contoso.com"), None);
        assert!(is_template_version_line("Version:v1.0,,,"));
        assert!(!is_template_version_line("version:v"));
        assert!(!is_template_version_line("versionéé@contoso.com"));
        assert_eq!(header_columns(ID), None);
    }

    #[test]
    fn entra_bulk_template_with_version_line() {
        let input = "version:v1.0,,\nUser name [userPrincipalName] Required,Display name\n\nadele@contoso.com,Adele\n";
        assert_eq!(
            summary(&read_all(input.as_bytes())),
            vec![(4, Ok("adele@contoso.com".into()))]
        );
    }

    #[test]
    fn csv_line_numbers_after_leading_comments_and_multiline_fields() {
        let input = "# export\n\nUPN,note\n\"a@contoso.com\",\"two\nlines\"\n\nb@contoso.com,x\n# skipped\nc@contoso.com\n";
        assert_eq!(
            summary(&read_all(input.as_bytes())),
            vec![
                (4, Ok("a@contoso.com".into())),
                (7, Ok("b@contoso.com".into())),
                (9, Ok("c@contoso.com".into())),
            ]
        );
    }

    #[test]
    fn csv_invalid_utf8_cell_is_bad() {
        assert_eq!(
            summary(&read_all(b"upn\nad\xFFle@contoso.com\nb@contoso.com\n")),
            vec![
                (2, Err("is not valid UTF-8".into())),
                (3, Ok("b@contoso.com".into()))
            ]
        );
    }

    #[test]
    fn unreadable_source_is_an_io_error() {
        struct Broken;
        impl Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::new(io::ErrorKind::PermissionDenied, "nope"))
            }
        }
        assert!(TargetReader::new(BufReader::new(Broken)).is_err());

        // Fails after the first line: the error is yielded once, then the stream ends.
        let failing = Cursor::new(b"adele@contoso.com\n".to_vec()).chain(Broken);
        let mut reader = TargetReader::new(BufReader::new(failing)).unwrap();
        assert!(matches!(reader.next(), Some(Ok(Item::Entry(_)))));
        assert!(matches!(reader.next(), Some(Err(_))));
        assert!(reader.next().is_none());
    }

    /// Produces `lines` lines on demand and counts how many bytes were pulled from it.
    struct Generated {
        header: Vec<u8>,
        next: usize,
        lines: usize,
        pending: Vec<u8>,
        pulled: std::rc::Rc<std::cell::Cell<usize>>,
    }

    impl Read for Generated {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            if self.pending.is_empty() {
                if !self.header.is_empty() {
                    self.pending = std::mem::take(&mut self.header);
                } else if self.next < self.lines {
                    self.pending = format!("user{}@contoso.com\r\n", self.next).into_bytes();
                    self.next += 1;
                } else {
                    return Ok(0);
                }
            }
            let n = out.len().min(self.pending.len());
            out[..n].copy_from_slice(&self.pending[..n]);
            self.pending.drain(..n);
            self.pulled.set(self.pulled.get() + n);
            Ok(n)
        }
    }

    fn streams(header: &str) {
        let pulled = std::rc::Rc::new(std::cell::Cell::new(0));
        let source = Generated {
            header: header.as_bytes().to_vec(),
            next: 0,
            lines: 100_000,
            pending: Vec::new(),
            pulled: pulled.clone(),
        };
        let mut reader = TargetReader::new(BufReader::new(source)).unwrap();
        let first = reader.next().unwrap().unwrap();
        assert!(matches!(first, Item::Entry(_)));
        // Only a buffer's worth has been read, not the whole 2 MB input.
        assert!(pulled.get() < 64 * 1024, "read {} bytes", pulled.get());

        let mut dedup = Dedup::new();
        let mut count = 1;
        let mut last_line = 0;
        for item in reader {
            let Item::Entry(e) = item.unwrap() else {
                panic!("bad entry")
            };
            assert!(dedup.first_time(&e.user.dedup_key()));
            last_line = e.line;
            count += 1;
        }
        assert_eq!(count, 100_000);
        assert_eq!(last_line, 100_000 + usize::from(!header.is_empty()));
    }

    #[test]
    fn hundred_thousand_plain_lines_stream() {
        streams("");
    }

    #[test]
    fn hundred_thousand_csv_records_stream() {
        streams("userPrincipalName,id\r\n");
    }

    #[test]
    fn dedup_is_case_insensitive() {
        let mut dedup = Dedup::new();
        let a = UserRef::parse("Adele@Contoso.com").unwrap();
        let b = UserRef::parse("adele@contoso.COM").unwrap();
        let id = UserRef::parse(&ID.to_uppercase()).unwrap();
        let id_braced = UserRef::parse(&format!("{{{ID}}}")).unwrap();
        assert!(dedup.first_time(&a.dedup_key()));
        assert!(!dedup.first_time(&b.dedup_key()));
        assert!(dedup.first_time(&id.dedup_key()));
        assert!(!dedup.first_time(&id_braced.dedup_key()));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn never_panics_and_entries_are_valid(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            check_arbitrary(&bytes)?;
        }

        #[test]
        fn never_panics_on_csv_like_input(
            body in proptest::collection::vec(
                prop_oneof![
                    Just(b','), Just(b'"'), Just(b'\''), Just(b'\n'), Just(b'\r'), Just(b'#'),
                    Just(b'@'), Just(b'.'), Just(b' '), Just(0xFF), Just(b'a'), Just(b'Z'),
                ],
                0..256,
            ),
            csv in any::<bool>(),
        ) {
            let mut input = if csv { b"upn,id\n".to_vec() } else { Vec::new() };
            input.extend_from_slice(&body);
            check_arbitrary(&input)?;
        }
    }

    fn check_arbitrary(bytes: &[u8]) -> Result<(), TestCaseError> {
        let line_count = bytes.iter().filter(|&&b| b == b'\n').count() + 1;
        let reader = TargetReader::new(Cursor::new(bytes.to_vec())).unwrap();
        let mut previous = 0;
        for item in reader {
            let item = item.unwrap();
            let (line, user) = match &item {
                Item::Entry(e) => (e.line, Some(&e.user)),
                Item::Bad(b) => (b.line, None),
            };
            // Non-decreasing rather than increasing: a lone '\r' ends a CSV record but not a line.
            prop_assert!(
                line >= previous.max(1) && line <= line_count,
                "line {line} after {previous} in {:?}",
                String::from_utf8_lossy(bytes)
            );
            previous = line;
            if let Some(user) = user {
                let reparsed = UserRef::parse(&user.to_string());
                prop_assert_eq!(reparsed.as_ref(), Ok(user));
            }
        }
        Ok(())
    }
}
