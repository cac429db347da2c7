//! The Confluent wire format: magic byte 0, the schema id as a 4-byte big-endian integer, then
//! the Avro binary body.

use crate::error::AvroError;

pub const MAGIC: u8 = 0;
pub const HEADER_LEN: usize = 5;

/// Start a message for `schema_id`: clears `buf` and writes the 5-byte header.
pub fn begin(buf: &mut Vec<u8>, schema_id: u32) {
    buf.clear();
    buf.push(MAGIC);
    buf.extend_from_slice(&schema_id.to_be_bytes());
}

/// Split a framed message into its schema id and Avro body.
pub fn split(msg: &[u8]) -> Result<(u32, &[u8]), AvroError> {
    if msg.len() < HEADER_LEN {
        return Err(AvroError::Framing(format!("{} bytes is shorter than the 5-byte header", msg.len())));
    }
    if msg[0] != MAGIC {
        return Err(AvroError::Framing(format!("magic byte is {}, expected 0", msg[0])));
    }
    let id = u32::from_be_bytes([msg[1], msg[2], msg[3], msg[4]]);
    Ok((id, &msg[HEADER_LEN..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips() {
        let mut b = vec![9, 9];
        begin(&mut b, 0x0102_0304);
        b.push(42);
        assert_eq!(b, [0, 1, 2, 3, 4, 42]);
        assert_eq!(split(&b).unwrap(), (0x0102_0304, &[42u8][..]));
        assert!(split(&[1, 0, 0, 0, 1]).is_err());
        assert!(split(&[0, 0]).is_err());
    }
}
