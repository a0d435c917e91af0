//! Distinguished-name comparison as OpenSSL does it (`X509_NAME_cmp` over the canonical
//! encoding of `x509_name_canon`): text values of the usual string types are compared as
//! UTF-8 with ASCII letters lowercased, leading and trailing whitespace removed and inner runs
//! of whitespace collapsed, whatever string type encodes them. Real chains do mix types (an
//! issuer written as UTF8String, the issuer's subject as PrintableString); a byte comparison
//! would refuse chains OpenSSL accepts.

use der::Tagged;
use x509_cert::name::Name;

/// One attribute of a name in canonical form: its type and its canonical value.
type Canon = (Vec<u8>, Vec<u8>);

/// Whether two names are the same name for OpenSSL.
pub(crate) fn same_name(a: &Name, b: &Name) -> bool {
    a == b || canonical(a) == canonical(b)
}

fn canonical(name: &Name) -> Vec<Vec<Canon>> {
    name.0
        .iter()
        .map(|rdn| {
            let mut atvs: Vec<Canon> = rdn
                .0
                .iter()
                .map(|atv| {
                    let oid = atv.oid.as_bytes().to_vec();
                    let tag = u8::from(atv.value.tag());
                    let value = atv.value.value();
                    match text(tag, value) {
                        // Canonical text is re-encoded as UTF8String by OpenSSL.
                        Some(t) => (oid, [&[0x0c], canon_text(&t).as_bytes()].concat()),
                        None => (oid, [&[tag], value].concat()),
                    }
                })
                .collect();
            // The canonical RDN is a DER SET: its members sorted.
            atvs.sort();
            atvs
        })
        .collect()
}

/// The text of a string value of the types OpenSSL canonicalises (UTF8String, PrintableString,
/// T61String read as Latin-1, IA5String, VisibleString, UniversalString, BMPString).
fn text(tag: u8, v: &[u8]) -> Option<String> {
    match tag {
        0x0c => std::str::from_utf8(v).ok().map(str::to_owned),
        0x13 | 0x16 | 0x1a => v
            .is_ascii()
            .then(|| String::from_utf8_lossy(v).into_owned()),
        0x14 => Some(v.iter().map(|&b| char::from(b)).collect()),
        0x1e => {
            if v.len() % 2 != 0 {
                return None;
            }
            let units: Vec<u16> = v
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16(&units).ok()
        }
        0x1c => {
            if v.len() % 4 != 0 {
                return None;
            }
            v.chunks_exact(4)
                .map(|c| char::from_u32(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
                .collect()
        }
        _ => None,
    }
}

/// `asn1_string_canon`: trim, collapse whitespace runs to one space, lowercase ASCII.
fn canon_text(s: &str) -> String {
    let space = |c: char| matches!(c, ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r');
    let mut out = String::with_capacity(s.len());
    let mut pending_space = false;
    for c in s.trim_matches(space).chars() {
        if space(c) {
            pending_space = true;
            continue;
        }
        if pending_space {
            out.push(' ');
            pending_space = false;
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use der::Decode;
    use std::str::FromStr;

    #[test]
    fn case_whitespace_and_string_type_do_not_matter() {
        let a = Name::from_str("CN=Dynatrace  Root,O=Dynatrace LLC").unwrap();
        let b = Name::from_str("CN=dynatrace root,O=DYNATRACE LLC").unwrap();
        assert!(same_name(&a, &b));
        let c = Name::from_str("CN=Dynatrace Root2,O=Dynatrace LLC").unwrap();
        assert!(!same_name(&a, &c));
        // CN as PrintableString (0x13) vs UTF8String (0x0c): the same name.
        let printable = Name::from_der(&[
            0x30, 0x0e, 0x31, 0x0c, 0x30, 0x0a, 0x06, 0x03, 0x55, 0x04, 0x03, 0x13, 0x03, b'A',
            b'b', b'c',
        ])
        .unwrap();
        let utf8 = Name::from_der(&[
            0x30, 0x0e, 0x31, 0x0c, 0x30, 0x0a, 0x06, 0x03, 0x55, 0x04, 0x03, 0x0c, 0x03, b'a',
            b'b', b'c',
        ])
        .unwrap();
        assert!(same_name(&printable, &utf8));
        assert_eq!(canon_text("  a \t B  c "), "a b c");
    }
}
