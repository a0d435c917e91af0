//! A small BER reader for the outer CMS structure, as lenient as OpenSSL's decoder where
//! OpenSSL does not look at a value (versions, the encapsulated content type, an EC signer's
//! signatureAlgorithm) and as strict where it checks the encoding (object identifiers and
//! integers must be well formed, structures must be consumed exactly). A strict DER library
//! there would refuse files `openssl cms -verify` accepts, which the differential test showed.
//! Definite lengths only: `openssl cms -sign` writes DER.

/// One tag-length-value.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Tlv<'a> {
    pub tag: u8,
    pub value: &'a [u8],
    /// The whole encoding, tag and length included.
    pub raw: &'a [u8],
}

pub(crate) const SEQUENCE: u8 = 0x30;
pub(crate) const SET: u8 = 0x31;
pub(crate) const INTEGER: u8 = 0x02;
pub(crate) const OCTET_STRING: u8 = 0x04;
pub(crate) const OID: u8 = 0x06;

/// Reads TLVs from a slice.
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
    /// What is being read, for errors.
    what: &'static str,
}

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8], what: &'static str) -> Self {
        Reader { rest: data, what }
    }

    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    fn err(&self, msg: &str) -> String {
        format!("{}: {msg}", self.what)
    }

    /// The next TLV, whatever its tag.
    pub fn any(&mut self) -> Result<Tlv<'a>, String> {
        let d = self.rest;
        let tag = *d.first().ok_or_else(|| self.err("ends early"))?;
        if tag & 0x1f == 0x1f {
            return Err(self.err("high tag numbers are not used in CMS"));
        }
        let first = *d.get(1).ok_or_else(|| self.err("ends in a length"))?;
        let (len, header) = if first & 0x80 == 0 {
            (usize::from(first), 2)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 {
                return Err(self.err("indefinite lengths are not supported"));
            }
            if n > 4 {
                return Err(self.err("length too large"));
            }
            let bytes = d
                .get(2..2 + n)
                .ok_or_else(|| self.err("ends in a length"))?;
            let len = bytes.iter().fold(0usize, |l, &b| (l << 8) | usize::from(b));
            (len, 2 + n)
        };
        let end = header
            .checked_add(len)
            .filter(|&e| e <= d.len())
            .ok_or_else(|| self.err("a length runs past the end"))?;
        self.rest = &d[end..];
        Ok(Tlv {
            tag,
            value: &d[header..end],
            raw: &d[..end],
        })
    }

    /// The next TLV, which must have `tag`.
    pub fn expect(&mut self, tag: u8, name: &str) -> Result<Tlv<'a>, String> {
        let t = self.any()?;
        if t.tag != tag {
            return Err(self.err(&format!(
                "expected {name} (tag 0x{tag:02x}), found tag 0x{:02x}",
                t.tag
            )));
        }
        Ok(t)
    }

    /// The next TLV if it has `tag`.
    pub fn optional(&mut self, tag: u8) -> Result<Option<Tlv<'a>>, String> {
        if self.rest.first() == Some(&tag) {
            self.any().map(Some)
        } else {
            Ok(None)
        }
    }

    /// Nothing may follow (OpenSSL refuses extra fields in a SEQUENCE).
    pub fn finish(&self) -> Result<(), String> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(self.err("unexpected data after the last field"))
        }
    }

    /// An OBJECT IDENTIFIER, well formed as OpenSSL's `c2i_ASN1_OBJECT` requires.
    pub fn oid(&mut self, name: &str) -> Result<&'a [u8], String> {
        let t = self.expect(OID, name)?;
        if !oid_well_formed(t.value) {
            return Err(self.err(&format!("{name} is not a well-formed object identifier")));
        }
        Ok(t.value)
    }

    /// An INTEGER, minimally encoded as OpenSSL 3.0's `c2i_ASN1_INTEGER` requires.
    pub fn integer(&mut self, name: &str) -> Result<&'a [u8], String> {
        let t = self.expect(INTEGER, name)?;
        let v = t.value;
        let padded =
            v.len() > 1 && ((v[0] == 0 && v[1] & 0x80 == 0) || (v[0] == 0xff && v[1] & 0x80 != 0));
        if v.is_empty() || padded {
            return Err(self.err(&format!("{name} is not a well-formed integer")));
        }
        Ok(v)
    }

    /// An AlgorithmIdentifier: its OID (the parameters are not looked at).
    pub fn algorithm(&mut self, name: &'static str) -> Result<&'a [u8], String> {
        let t = self.expect(SEQUENCE, name)?;
        let mut r = Reader::new(t.value, name);
        let oid = r.oid(name)?;
        if !r.is_empty() {
            r.any()?;
        }
        r.finish()?;
        Ok(oid)
    }
}

/// OpenSSL's object identifier checks: not empty, the last octet ends a subidentifier, and no
/// subidentifier starts with a 0x80 padding octet.
pub(crate) fn oid_well_formed(v: &[u8]) -> bool {
    let Some(&last) = v.last() else {
        return false;
    };
    if last & 0x80 != 0 {
        return false;
    }
    let mut at_start = true;
    for &b in v {
        if at_start && b == 0x80 {
            return false;
        }
        at_start = b & 0x80 == 0;
    }
    true
}

/// Dotted form of an object identifier's content octets, for messages (hex if malformed).
pub(crate) fn oid_text(v: &[u8]) -> String {
    if !oid_well_formed(v) {
        return format!("(malformed OID {})", hex::encode(v));
    }
    let mut arcs: Vec<u128> = Vec::new();
    let mut cur: u128 = 0;
    for &b in v {
        cur = cur.saturating_mul(128).saturating_add(u128::from(b & 0x7f));
        if b & 0x80 == 0 {
            arcs.push(cur);
            cur = 0;
        }
    }
    let first = arcs[0];
    let (a, b) = match first {
        0..=39 => (0, first),
        40..=79 => (1, first - 40),
        _ => (2, first - 80),
    };
    let mut s = format!("{a}.{b}");
    for arc in &arcs[1..] {
        s.push_str(&format!(".{arc}"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_definite_lengths_and_refuses_overruns() {
        let mut r = Reader::new(&[0x30, 0x81, 0x02, 1, 2, 0x04, 0x00], "t");
        let t = r.expect(SEQUENCE, "seq").unwrap();
        assert_eq!(t.value, [1, 2]);
        assert_eq!(t.raw.len(), 5);
        assert_eq!(r.expect(OCTET_STRING, "os").unwrap().value, b"");
        assert!(r.finish().is_ok());
        assert!(Reader::new(&[0x30, 0x05, 1], "t").any().is_err());
        assert!(Reader::new(&[0x30, 0x80, 0, 0], "t").any().is_err());
    }

    #[test]
    fn oids_and_integers_follow_openssl_rules() {
        assert_eq!(
            oid_text(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01]),
            "1.2.840.113549.1.7.1"
        );
        // A large second arc under 2 is legal BER (some libraries refuse it).
        assert!(oid_well_formed(&[0xee, 0x84, 0x78, 0x01]));
        assert!(!oid_well_formed(&[0x2a, 0x80, 0x01]));
        assert!(!oid_well_formed(&[0x2a, 0x86]));
        assert!(!oid_well_formed(&[]));
        let mut r = Reader::new(&[0x02, 0x02, 0x00, 0x01], "t");
        assert!(r.integer("v").is_err());
        let mut r = Reader::new(&[0x02, 0x02, 0x00, 0x81], "t");
        assert_eq!(r.integer("v").unwrap(), [0x00, 0x81]);
    }
}
