//! The log's writer: one log record is one line on stderr, whatever text it
//! carries.
//!
//! Log messages include text sigbox does not control: a signature's log
//! lines and errors, file names in the signatures directory, fields of
//! replayed events. A newline in any of them would start a line that looks
//! like sigbox's own (even a fake `sigbox: summary:`), and an escape
//! sequence would reach the operator's terminal. Escaping here, where every
//! record is written, covers every message at once.

use std::io::{self, Write};

use tracing_subscriber::fmt::MakeWriter;

/// Makes [`OneLineWriter`]s on stderr.
#[derive(Clone, Copy, Default)]
pub struct OneLineStderr;

impl<'a> MakeWriter<'a> for OneLineStderr {
    type Writer = OneLineWriter<io::Stderr>;

    fn make_writer(&'a self) -> Self::Writer {
        OneLineWriter(io::stderr())
    }
}

/// Writes each buffer it is given (the fmt layer hands over one whole
/// record per write) with every control character escaped except the
/// record's final newline.
pub struct OneLineWriter<W: Write>(pub W);

impl<W: Write> Write for OneLineWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let (body, newline) = match buf.strip_suffix(b"\n") {
            Some(body) => (body, true),
            None => (buf, false),
        };
        let text = String::from_utf8_lossy(body);
        let mut line = crate::printable(&text).into_owned();
        if newline {
            line.push('\n');
        }
        self.0.write_all(line.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_stays_one_line_and_escapes_reach_no_terminal() {
        let mut writer = OneLineWriter(Vec::new());
        writer
            .write_all(b"WARN guest: x\nsigbox: summary: forged \x1b]0;pwned\x07\n")
            .unwrap();
        let text = String::from_utf8(writer.0).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(text.ends_with('\n'));
        assert!(
            !text.contains('\u{1b}') && !text.contains('\u{7}'),
            "{text}"
        );
        assert!(text.contains("x\\nsigbox: summary: forged"), "{text}");
    }
}
