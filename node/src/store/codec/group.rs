//! The group part of a message record ([`super::MessageBody::group`]).

use super::*;

/// ```text
/// group part = 1 | clock u64 | author [32] | n u32 (<= MAX_GROUP_COPIES) | (contact [32] | seq u64 | id [16]) * n
///            | 2 | content (u32 length) | 0, or 1 | contact [32] | seq u64
/// ```
pub(super) fn write_group_part(w: &mut Writer, g: &GroupPart) -> Result<(), StoreError> {
    match g {
        GroupPart::Message {
            clock,
            author,
            copies,
        } => {
            if copies.len() > MAX_GROUP_COPIES {
                return Err(too_large("group copies", copies.len(), MAX_GROUP_COPIES));
            }
            w.u8(1);
            w.u64(*clock);
            w.raw(author);
            w.u32(copies.len() as u32);
            for c in copies {
                w.raw(&c.contact.0);
                w.u64(c.seq);
                w.raw(&c.id.0);
            }
        }
        GroupPart::Copy { content, origin } => {
            w.u8(2);
            w.bytes("group copy", content, MAX_BLOB_LEN)?;
            match origin {
                None => w.u8(0),
                Some((contact, seq)) => {
                    w.u8(1);
                    w.raw(&contact.0);
                    w.u64(*seq);
                }
            }
        }
    }
    Ok(())
}

pub(super) fn read_group_part(r: &mut Reader<'_>) -> Result<GroupPart, DecodeError> {
    Ok(match r.u8()? {
        1 => {
            let clock = r.u64()?;
            let author = r.array()?;
            let n = usize::try_from(r.u32()?).unwrap_or(usize::MAX);
            if n > MAX_GROUP_COPIES {
                return Err(DecodeError::TooLong {
                    field: "group copies",
                    len: n,
                    max: MAX_GROUP_COPIES,
                });
            }
            let mut copies = Vec::with_capacity(n);
            for _ in 0..n {
                copies.push(GroupCopy {
                    contact: ContactId(r.array()?),
                    seq: r.u64()?,
                    id: MessageId(r.array()?),
                });
            }
            GroupPart::Message {
                clock,
                author,
                copies,
            }
        }
        2 => GroupPart::Copy {
            content: r.bytes("group copy", MAX_BLOB_LEN)?,
            origin: if r.bool("group copy origin")? {
                Some((ContactId(r.array()?), r.u64()?))
            } else {
                None
            },
        },
        value => {
            return Err(DecodeError::UnknownTag {
                field: "group part",
                value,
            })
        }
    })
}
