//! A whitespace tokenizer over a buffered reader that remembers line numbers, for precise parse errors.

use crate::{Error, Result};
use std::io::BufRead;
use std::path::{Path, PathBuf};

pub struct Tokens<R: BufRead> {
    reader: R,
    path: PathBuf,
    line_no: usize,
    buf: Vec<String>,
    pos: usize,
}

impl<R: BufRead> Tokens<R> {
    pub fn new(reader: R, path: &Path) -> Self {
        Tokens {
            reader,
            path: path.to_path_buf(),
            line_no: 0,
            buf: Vec::new(),
            pos: 0,
        }
    }

    pub fn line(&self) -> usize {
        self.line_no
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The next token and its line number, or `None` at the end of the file.
    pub fn next_token(&mut self) -> Result<Option<(String, usize)>> {
        while self.pos >= self.buf.len() {
            let mut line = String::new();
            let n = self
                .reader
                .read_line(&mut line)
                .map_err(|e| Error::io(&self.path, e))?;
            if n == 0 {
                return Ok(None);
            }
            self.line_no += 1;
            self.buf = line.split_whitespace().map(str::to_owned).collect();
            self.pos = 0;
        }
        self.pos += 1;
        Ok(Some((
            std::mem::take(&mut self.buf[self.pos - 1]),
            self.line_no,
        )))
    }

    /// The next token; an end of file here means the file is truncated.
    pub fn expect(&mut self, what: &str) -> Result<(String, usize)> {
        self.next_token()?.ok_or_else(|| {
            Error::at_line(
                &self.path,
                self.line_no,
                format!("file ends early: expected {what} (truncated file?)"),
            )
        })
    }

    pub fn int(&mut self, what: &str) -> Result<i64> {
        let (t, l) = self.expect(what)?;
        t.parse()
            .map_err(|_| Error::at_field(&self.path, l, what, format!("'{t}' is not an integer")))
    }

    pub fn float(&mut self, what: &str) -> Result<f32> {
        let (t, l) = self.expect(what)?;
        super::parse_coord(&t, &self.path, l, what)
    }

    /// Skip `n` tokens whose values we do not use (but which must be present).
    pub fn skip(&mut self, n: usize, what: &str) -> Result<()> {
        for _ in 0..n {
            self.expect(what)?;
        }
        Ok(())
    }
}
