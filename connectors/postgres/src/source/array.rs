//! PostgreSQL array literals (`{1,2,NULL}`, `{"a b","c\"d"}`) as text elements.
//!
//! Only one-dimensional arrays map to an Avro array of the element type. A column declared with
//! more dimensions (`integer[][]`, `pg_attribute.attndims > 1`) is carried as its text instead
//! (see `relation.rs`); a multi-dimensional value in a column declared one-dimensional is an
//! error that names both ways out. Explicit bounds
//! (`[0:1]={1,2}`) are accepted and dropped: Avro arrays start at no particular index.

type R<T> = Result<T, String>;

/// The elements of a one-dimensional array literal; `None` for SQL NULL.
pub fn parse_array(text: &str, delim: u8) -> R<Vec<Option<String>>> {
    let body = match text.find('=') {
        Some(i) if text.starts_with('[') => &text[i + 1..],
        _ => text,
    };
    let inner = body
        .strip_prefix('{')
        .and_then(|s| s.strip_suffix('}'))
        .ok_or("array literal not enclosed in braces")?;
    let mut out = Vec::new();
    if inner.is_empty() {
        return Ok(out);
    }
    let bytes = inner.as_bytes();
    let mut i = 0;
    loop {
        if bytes.get(i) == Some(&b'{') {
            return Err("a multi-dimensional array in a column declared one-dimensional: declare the \
                        column with its dimensions (e.g. `integer[][]`; Sluice then carries it as its text) or \
                        exclude it (`exclude_columns`)"
                .into());
        }
        if bytes.get(i) == Some(&b'"') {
            let mut s = Vec::new();
            i += 1;
            loop {
                match bytes.get(i) {
                    Some(b'\\') => {
                        s.push(*bytes.get(i + 1).ok_or("dangling escape in array")?);
                        i += 2;
                    }
                    Some(b'"') => {
                        i += 1;
                        break;
                    }
                    Some(&b) => {
                        s.push(b);
                        i += 1;
                    }
                    None => return Err("unterminated quoted array element".into()),
                }
            }
            out.push(Some(String::from_utf8(s).map_err(|_| "array element is not UTF-8")?));
        } else {
            let start = i;
            while i < bytes.len() && bytes[i] != delim {
                i += 1;
            }
            let tok = inner[start..i].trim();
            out.push(if tok.eq_ignore_ascii_case("NULL") { None } else { Some(tok.to_owned()) });
        }
        match bytes.get(i) {
            None => break,
            Some(&b) if b == delim => i += 1,
            Some(_) => return Err("unexpected character after array element".into()),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elements() {
        assert_eq!(parse_array("{}", b',').unwrap(), Vec::<Option<String>>::new());
        assert_eq!(parse_array("{1,NULL,3}", b',').unwrap(), vec![Some("1".into()), None, Some("3".into())]);
        assert_eq!(
            parse_array(r#"{"a b","c\"d",NULL,"NULL"}"#, b',').unwrap(),
            vec![Some("a b".into()), Some("c\"d".into()), None, Some("NULL".into())]
        );
        assert_eq!(parse_array("[0:1]={7,8}", b',').unwrap(), vec![Some("7".into()), Some("8".into())]);
        assert_eq!(
            parse_array("{(1,2);(3,4)}", b';').unwrap(),
            vec![Some("(1,2)".into()), Some("(3,4)".into())]
        );
        assert!(parse_array("{{1,2},{3,4}}", b',').unwrap_err().contains("multi-dimensional"));
    }
}
