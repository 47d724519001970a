//! Cursor pagination shared by every list: `limit` (1–200, default 50), an opaque `cursor`, and
//! `updatedSince` for incremental sync. Without `updatedSince` the order is ascending id; with
//! it, `(updatedAt, id)`, so a record updated while a client pages moves behind the cursor and
//! is returned again rather than skipped.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Datelike, Utc};
use serde::Serialize;

use super::error::{Error, Result};
use crate::audit::{Disclose, Disclosure};

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 200;

/// What a list query needs: how many rows, and where to start.
#[derive(Debug, Clone, Copy)]
pub struct PageRequest {
    /// Rows to return; the query fetches one more to learn whether there is a next page.
    pub limit: i64,
    /// `updatedSince`, when given: switches the order to `(updatedAt, id)`.
    pub updated_since: Option<DateTime<Utc>>,
    /// Keyset position: rows after this id (default order) or after `(after_updated, after_id)`.
    pub after_id: i64,
    pub after_updated: Option<DateTime<Utc>>,
}

impl PageRequest {
    pub fn new(limit: Option<i64>, cursor: Option<&str>, updated_since: Option<DateTime<Utc>>) -> Result<PageRequest> {
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(Error::invalid("limit", format!("must be between 1 and {MAX_LIMIT}")));
        }
        let mut page = PageRequest { limit, updated_since, after_id: 0, after_updated: None };
        if let Some(cursor) = cursor.filter(|c| !c.is_empty()) {
            match (decode(cursor)?, updated_since) {
                (Position::Id(id), None) => page.after_id = id,
                (Position::Updated(at, id), Some(_)) => {
                    page.after_id = id;
                    page.after_updated = Some(at);
                }
                _ => return Err(Error::InvalidCursor),
            }
        } else if let Some(since) = updated_since {
            // Start just before `since`, so that rows updated exactly at `since` are included.
            page.after_updated = Some(since);
            page.after_id = i64::MIN;
        }
        Ok(page)
    }

    /// The `LIMIT` to send: one more than asked.
    pub fn fetch(&self) -> i64 {
        self.limit + 1
    }

    pub fn by_updated(&self) -> bool {
        self.updated_since.is_some()
    }

    /// Cuts the extra row off and builds the cursor from the last row kept.
    pub fn finish<T>(&self, mut rows: Vec<T>, key: impl Fn(&T) -> (i64, DateTime<Utc>)) -> Page<T> {
        let more = rows.len() as i64 > self.limit;
        rows.truncate(self.limit as usize);
        let next_cursor = match rows.last() {
            Some(last) if more => {
                let (id, updated) = key(last);
                Some(encode(if self.by_updated() { Position::Updated(updated, id) } else { Position::Id(id) }))
            }
            _ => None,
        };
        Page { data: rows, next_cursor }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Page<T> {
    pub data: Vec<T>,
    pub next_cursor: Option<String>,
}

/// A page of clinical records shows each of them, and is audited as a `list`.
impl<T: Disclose> Disclose for Page<T> {
    fn disclose(&self, to: &mut Disclosure) {
        to.add_page(&self.data);
    }
}

enum Position {
    Id(i64),
    Updated(DateTime<Utc>, i64),
}

fn encode(p: Position) -> String {
    let raw = match p {
        Position::Id(id) => format!("i:{id}"),
        Position::Updated(at, id) => format!("u:{}:{id}", at.timestamp_micros()),
    };
    URL_SAFE_NO_PAD.encode(raw)
}

fn decode(cursor: &str) -> Result<Position> {
    let raw = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| Error::InvalidCursor)?;
    let raw = String::from_utf8(raw).map_err(|_| Error::InvalidCursor)?;
    let mut parts = raw.split(':');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some("i"), Some(id), None, None) => id.parse().map(Position::Id).map_err(|_| Error::InvalidCursor),
        (Some("u"), Some(micros), Some(id), None) => {
            // Only instants this server can have written: a forged cursor far outside them would
            // otherwise reach PostgreSQL, whose timestamps do not span chrono's range.
            let at = micros
                .parse()
                .ok()
                .and_then(DateTime::<Utc>::from_timestamp_micros)
                .filter(|t| (0..=9999).contains(&t.year()));
            match (at, id.parse()) {
                (Some(at), Ok(id)) => Ok(Position::Updated(at, id)),
                _ => Err(Error::InvalidCursor),
            }
        }
        _ => Err(Error::InvalidCursor),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let page = PageRequest::new(Some(2), None, None).unwrap();
        let p = page.finish(vec![1, 2, 3], |&i| (i, Utc::now()));
        assert_eq!(p.data, vec![1, 2]);
        let next = PageRequest::new(Some(2), p.next_cursor.as_deref(), None).unwrap();
        assert_eq!(next.after_id, 2);
        assert!(matches!(PageRequest::new(None, Some("!!"), None), Err(Error::InvalidCursor)));
        // An id cursor is not valid for an updatedSince listing.
        assert!(PageRequest::new(None, p.next_cursor.as_deref(), Some(Utc::now())).is_err());
        assert!(PageRequest::new(Some(0), None, None).is_err());
        assert!(PageRequest::new(Some(201), None, None).is_err());
    }

    #[test]
    fn forged_cursors_outside_storable_time_are_invalid() {
        let forged = URL_SAFE_NO_PAD.encode("u:-6000000000000000000:1");
        assert!(matches!(PageRequest::new(None, Some(&forged), Some(Utc::now())), Err(Error::InvalidCursor)));
        let fine = encode(Position::Updated(Utc::now(), 7));
        assert_eq!(PageRequest::new(None, Some(&fine), Some(Utc::now())).unwrap().after_id, 7);
    }
}
