//! The cleaners on sample files made here: what each format carries is removed and
//! reported, and what a viewer shows is unchanged (decoded pixels equal, PDF page content
//! and Office document parts equal). `tests/tests/file_metadata.rs` checks the same with
//! independent readers (exiftool, pdftotext).

use super::*;
use ::exif::experimental::Writer;
use ::exif::{Field, In, Rational, Tag, Value};
use bytes::Bytes;
use img_parts::jpeg::{markers, Jpeg, JpegSegment};
use img_parts::png::{Png, PngChunk};
use img_parts::webp::WebP;
use img_parts::ImageEXIF;
use std::io::{Cursor, Read, Write};

const W: u32 = 48;
const H: u32 = 32;

/// A picture with some variety, so that every encoder has work to do.
fn picture() -> image::RgbImage {
    image::RgbImage::from_fn(W, H, |x, y| {
        image::Rgb([(x * 5) as u8, (y * 7) as u8, ((x ^ y) * 3) as u8])
    })
}

fn encode(format: image::ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(picture())
        .write_to(&mut out, format)
        .unwrap();
    out.into_inner()
}

fn pixels(bytes: &[u8]) -> Vec<u8> {
    image::load_from_memory(bytes)
        .unwrap()
        .to_rgba8()
        .into_raw()
}

fn ascii(tag: Tag, s: &str) -> Field {
    Field {
        tag,
        ifd_num: In::PRIMARY,
        value: Value::Ascii(vec![s.as_bytes().to_vec()]),
    }
}

/// EXIF as a phone writes it: camera, serial, owner, software, date, GPS, orientation.
fn phone_exif(orientation: u16) -> Vec<u8> {
    let fields = vec![
        ascii(Tag::Make, "Cairncam"),
        ascii(Tag::Model, "Pocket 7"),
        ascii(Tag::BodySerialNumber, "SN-4471-0042"),
        ascii(Tag::Artist, "J. Doe"),
        ascii(Tag::Software, "Firmware 1.2.3"),
        ascii(Tag::DateTimeOriginal, "2026:11:30 14:02:11"),
        Field {
            tag: Tag::Orientation,
            ifd_num: In::PRIMARY,
            value: Value::Short(vec![orientation]),
        },
        ascii(Tag::GPSLatitudeRef, "N"),
        Field {
            tag: Tag::GPSLatitude,
            ifd_num: In::PRIMARY,
            value: Value::Rational(vec![
                Rational { num: 48, denom: 1 },
                Rational { num: 51, denom: 1 },
                Rational {
                    num: 2937,
                    denom: 100,
                },
            ]),
        },
        ascii(Tag::GPSLongitudeRef, "E"),
        Field {
            tag: Tag::GPSLongitude,
            ifd_num: In::PRIMARY,
            value: Value::Rational(vec![
                Rational { num: 2, denom: 1 },
                Rational { num: 17, denom: 1 },
                Rational {
                    num: 4020,
                    denom: 100,
                },
            ]),
        },
    ];
    let mut w = Writer::new();
    for f in &fields {
        w.push_field(f);
    }
    let mut out = Cursor::new(Vec::new());
    w.write(&mut out, false).unwrap();
    out.into_inner()
}

/// The fields of an EXIF block, by tag.
fn exif_tags(raw: &[u8]) -> Vec<Tag> {
    ::exif::Reader::new()
        .read_raw(raw.to_vec())
        .unwrap()
        .fields()
        .map(|f| f.tag)
        .collect()
}

const IDENTIFYING: [&str; 6] = [
    "Cairncam",
    "Pocket 7",
    "SN-4471-0042",
    "J. Doe",
    "Firmware",
    "2026:11:30",
];

fn assert_gone(bytes: &[u8], needles: &[&str]) {
    for n in needles {
        assert!(
            !bytes.windows(n.len()).any(|w| w == n.as_bytes()),
            "{n:?} is still in the file"
        );
    }
}

fn removed_strings(c: &Cleaned) -> Vec<String> {
    c.removed.iter().map(ToString::to_string).collect()
}

/// A photo as a phone saves it: EXIF (camera, serial, owner, date, GPS, turned 90°), XMP,
/// IPTC, a comment, a maker's private segment, and a second image appended.
pub(crate) fn a_phone_photo() -> Vec<u8> {
    let plain = encode(image::ImageFormat::Jpeg);
    let mut jpeg = Jpeg::from_bytes(Bytes::from(plain.clone())).unwrap();
    let mut exif = b"Exif\0\0".to_vec();
    exif.extend(phone_exif(6));
    let mut xmp = b"http://ns.adobe.com/xap/1.0/\0".to_vec();
    xmp.extend(b"<x:xmpmeta><dc:creator>J. Doe</dc:creator></x:xmpmeta>");
    let extra = [
        JpegSegment::new_with_contents(markers::APP1, Bytes::from(exif)),
        JpegSegment::new_with_contents(markers::APP1, Bytes::from(xmp)),
        JpegSegment::new_with_contents(
            markers::APP13,
            Bytes::from_static(b"Photoshop 3.0\0Pocket 7"),
        ),
        JpegSegment::new_with_contents(markers::COM, Bytes::from_static(b"shot by J. Doe\x1b[31m")),
        JpegSegment::new_with_contents(markers::APP5, Bytes::from_static(b"Cairncam private")),
    ];
    for (i, s) in extra.into_iter().enumerate() {
        jpeg.segments_mut().insert(1 + i, s);
    }
    let mut dirty = jpeg.encoder().bytes().to_vec();
    // A second image after the end of the first, as phones append previews and depth maps.
    dirty.extend_from_slice(&plain);
    dirty
}

#[test]
fn a_phone_photo_loses_position_camera_and_owner_but_not_a_pixel() {
    let plain = encode(image::ImageFormat::Jpeg);
    let c = clean(&a_phone_photo()).unwrap().unwrap();
    assert_eq!(c.format, Format::Jpeg);
    let shown = removed_strings(&c);
    for want in [
        "GPS position",
        "camera model 'Pocket 7' and serial",
        "author 'J. Doe'",
        "software 'Firmware 1.2.3'",
        "dates of creation and modification",
        "XMP metadata",
        "IPTC metadata",
        "description 'shot by J. Doe [31m'",
        "application-private data",
        "embedded preview images",
    ] {
        assert!(shown.iter().any(|s| s == want), "{want:?} not in {shown:?}");
    }
    assert_gone(&c.bytes, &IDENTIFYING);
    assert_eq!(pixels(&c.bytes), pixels(&plain), "the pixels changed");
    // The orientation alone is kept: the photo still shows upright.
    let out = Jpeg::from_bytes(Bytes::from(c.bytes.clone())).unwrap();
    assert_eq!(exif_tags(&out.exif().unwrap()), vec![Tag::Orientation]);
    assert!(out.segments_by_marker(markers::APP13).next().is_none());
    assert!(out.segments_by_marker(markers::COM).next().is_none());
    assert_eq!(
        c.bytes.len(),
        out.len(),
        "nothing after the end of the image"
    );
    // Cleaning again changes nothing and finds nothing more.
    let again = clean(&c.bytes).unwrap().unwrap();
    assert_eq!(again.bytes, c.bytes);
    assert!(again.removed.is_empty(), "{:?}", again.removed);
}

#[test]
fn an_upright_photo_keeps_no_exif_and_its_jfif_loses_its_thumbnail() {
    let plain = encode(image::ImageFormat::Jpeg);
    let mut jpeg = Jpeg::from_bytes(Bytes::from(plain.clone())).unwrap();
    let mut exif = b"Exif\0\0".to_vec();
    exif.extend(phone_exif(1));
    jpeg.segments_mut().insert(
        0,
        JpegSegment::new_with_contents(markers::APP1, Bytes::from(exif)),
    );
    // A JFIF header with a 1 × 1 thumbnail, then a JFXX thumbnail.
    let mut jfif = b"JFIF\0\x01\x01\x00\x00\x01\x00\x01\x01\x01".to_vec();
    jfif.extend([1, 2, 3]);
    // In place of the encoder's own JFIF header.
    jpeg.segments_mut().retain(|s| s.marker() != markers::APP0);
    jpeg.segments_mut().insert(
        0,
        JpegSegment::new_with_contents(markers::APP0, Bytes::from(jfif)),
    );
    jpeg.segments_mut().insert(
        1,
        JpegSegment::new_with_contents(markers::APP0, Bytes::from_static(b"JFXX\0\x13thumb")),
    );
    let c = clean(&jpeg.encoder().bytes()).unwrap().unwrap();
    assert!(c.removed.contains(&Removed::Thumbnail));
    let out = Jpeg::from_bytes(Bytes::from(c.bytes.clone())).unwrap();
    assert!(out.exif().is_none());
    let app0: Vec<_> = out.segments_by_marker(markers::APP0).collect();
    assert_eq!(app0.len(), 1);
    assert_eq!(app0[0].contents().len(), 14);
    assert_eq!(&app0[0].contents()[12..], &[0, 0]);
    assert_eq!(pixels(&c.bytes), pixels(&plain));
}

#[test]
fn metadata_between_the_scans_and_the_end_is_dropped_too() {
    let plain = encode(image::ImageFormat::Jpeg);
    // A comment just before the end-of-image marker, inside what img-parts keeps as the
    // scan's data.
    let mut dirty = plain[..plain.len() - 2].to_vec();
    dirty.extend([0xff, 0xfe, 0x00, 0x0a]);
    dirty.extend(b"J. Doe!!");
    dirty.extend([0xff, 0xd9]);
    let c = clean(&dirty).unwrap().unwrap();
    assert_gone(&c.bytes, &["J. Doe"]);
    assert_eq!(c.bytes, plain);
    assert!(removed_strings(&c).contains(&"description 'J. Doe!!'".to_owned()));
}

/// A PNG with text chunks (author, software, a compressed comment, XMP), a time, EXIF and
/// a private chunk.
pub(super) fn a_png_with_texts() -> Vec<u8> {
    let plain = encode(image::ImageFormat::Png);
    let mut png = Png::from_bytes(Bytes::from(plain.clone())).unwrap();
    let mut ztxt = b"Comment\0\0".to_vec();
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(b"taken at the Pocket 7 meeting").unwrap();
    ztxt.extend(z.finish().unwrap());
    let chunks = [
        PngChunk::new(*b"tEXt", Bytes::from_static(b"Author\0J. Doe")),
        PngChunk::new(*b"tEXt", Bytes::from_static(b"Software\0Firmware 9")),
        PngChunk::new(*b"zTXt", Bytes::from(ztxt)),
        PngChunk::new(
            *b"iTXt",
            Bytes::from_static(b"XML:com.adobe.xmp\0\0\0\0\0<x:xmpmeta>Cairncam</x:xmpmeta>"),
        ),
        PngChunk::new(*b"tIME", Bytes::from_static(&[7, 234, 11, 30, 14, 2, 11])),
        PngChunk::new(*b"eXIf", Bytes::from(phone_exif(3))),
        PngChunk::new(*b"prVt", Bytes::from_static(b"SN-4471-0042")),
    ];
    for (i, ch) in chunks.into_iter().enumerate() {
        png.chunks_mut().insert(1 + i, ch);
    }
    png.encoder().bytes().to_vec()
}

#[test]
fn a_png_loses_its_texts_exif_time_and_private_chunks() {
    let plain = encode(image::ImageFormat::Png);
    let c = clean(&a_png_with_texts()).unwrap().unwrap();
    assert_eq!(c.format, Format::Png);
    let shown = removed_strings(&c);
    for want in [
        "author 'J. Doe'",
        "software 'Firmware 9'",
        "description 'taken at the Pocket 7 meeting'",
        "XMP metadata",
        "dates of creation and modification",
        "GPS position",
        "camera model 'Pocket 7' and serial",
        "application-private data",
    ] {
        assert!(shown.iter().any(|s| s == want), "{want:?} not in {shown:?}");
    }
    assert_gone(&c.bytes, &IDENTIFYING);
    assert_eq!(pixels(&c.bytes), pixels(&plain));
    let out = Png::from_bytes(Bytes::from(c.bytes.clone())).unwrap();
    let kinds: Vec<[u8; 4]> = out.chunks().iter().map(PngChunk::kind).collect();
    assert_eq!(kinds[0], *b"IHDR");
    assert_eq!(kinds[1], *b"eXIf");
    assert_eq!(
        exif_tags(out.chunks()[1].contents()),
        vec![Tag::Orientation]
    );
    assert!(!kinds
        .iter()
        .any(|k| [b"tEXt", b"zTXt", b"iTXt", b"tIME", b"prVt"].contains(&k)));
}

/// A lossless WebP with EXIF and XMP.
pub(super) fn a_webp_with_exif() -> Vec<u8> {
    let plain = encode(image::ImageFormat::WebP);
    let mut webp = WebP::from_bytes(Bytes::from(plain.clone())).unwrap();
    webp.set_exif(Some(Bytes::from(phone_exif(1))));
    webp.chunks_mut().push(img_parts::riff::RiffChunk::new(
        *b"XMP ",
        img_parts::riff::RiffContent::Data(Bytes::from_static(b"<x:xmpmeta>J. Doe</x:xmpmeta>")),
    ));
    webp.encoder().bytes().to_vec()
}

#[test]
fn a_webp_loses_its_exif_and_xmp_and_its_flags_follow() {
    let plain = encode(image::ImageFormat::WebP);
    let dirty = a_webp_with_exif();
    assert!(WebP::from_bytes(Bytes::from(dirty.clone()))
        .unwrap()
        .exif()
        .is_some());
    let c = clean(&dirty).unwrap().unwrap();
    assert_eq!(c.format, Format::WebP);
    assert!(c.removed.contains(&Removed::GpsPosition));
    assert!(c.removed.contains(&Removed::Xmp));
    assert_gone(&c.bytes, &IDENTIFYING);
    assert_eq!(pixels(&c.bytes), pixels(&plain));
    let out = WebP::from_bytes(Bytes::from(c.bytes)).unwrap();
    assert!(out.exif().is_none());
    assert!(!out.has_chunk(*b"XMP "));
}

/// A one-page PDF saying `text`, with an information dictionary, an XMP packet and ids.
pub(super) fn sample_pdf(text: &str) -> Vec<u8> {
    use lopdf::{dictionary, Document, Object, Stream, StringFormat};
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let font_id = doc.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica",
    });
    let content = format!("BT /F1 24 Tf 72 720 Td ({text}) Tj ET");
    let content_id = doc.add_object(Stream::new(dictionary! {}, content.into_bytes()));
    let page_id = doc.add_object(dictionary! {
        "Type" => "Page", "Parent" => pages_id, "Contents" => content_id,
        "Resources" => dictionary! { "Font" => dictionary! { "F1" => font_id } },
        "MediaBox" => vec![0.into(), 0.into(), 612.into(), 792.into()],
        "PieceInfo" => dictionary! { "Cairncam" => dictionary! { "Private" => "x" } },
    });
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages", "Kids" => vec![page_id.into()], "Count" => 1,
        }),
    );
    let xmp = doc.add_object(Stream::new(
        dictionary! { "Type" => "Metadata", "Subtype" => "XML" },
        b"<x:xmpmeta><dc:creator>J. Doe</dc:creator><xmp:CreatorTool>Pocket 7</xmp:CreatorTool></x:xmpmeta>".to_vec(),
    ));
    let catalog = doc.add_object(dictionary! {
        "Type" => "Catalog", "Pages" => pages_id, "Metadata" => xmp,
    });
    let info = doc.add_object(dictionary! {
        "Author" => Object::String(b"J. Doe".to_vec(), StringFormat::Literal),
        "Creator" => Object::String(b"Firmware 5".to_vec(), StringFormat::Literal),
        "CreationDate" => Object::String(b"D:20261130140211Z".to_vec(), StringFormat::Literal),
        "Title" => Object::String(b"Minutes".to_vec(), StringFormat::Literal),
    });
    doc.trailer.set("Root", catalog);
    doc.trailer.set("Info", info);
    doc.trailer.set(
        "ID",
        vec![
            Object::String(b"SN-4471-0042".to_vec(), StringFormat::Hexadecimal),
            Object::String(b"SN-4471-0042".to_vec(), StringFormat::Hexadecimal),
        ],
    );
    let mut out = Vec::new();
    doc.save_to(&mut out).unwrap();
    out
}

#[test]
fn a_pdf_loses_its_author_xmp_and_ids_but_keeps_its_pages() {
    let dirty = sample_pdf("Hello from a source");
    let c = clean(&dirty).unwrap().unwrap();
    assert_eq!(c.format, Format::Pdf);
    let shown = removed_strings(&c);
    for want in [
        "author 'J. Doe'",
        "software 'Firmware 5'",
        "dates of creation and modification",
        "description 'Minutes'",
        "XMP metadata",
        "document identifiers",
        "application-private data",
    ] {
        assert!(shown.iter().any(|s| s == want), "{want:?} not in {shown:?}");
    }
    assert_gone(
        &c.bytes,
        &["J. Doe", "Pocket 7", "Firmware", "Cairncam", "xmpmeta"],
    );
    let doc = lopdf::Document::load_mem(&c.bytes).unwrap();
    assert!(doc.trailer.get(b"Info").is_err());
    assert!(doc.trailer.get(b"ID").is_err());
    let page = *doc.get_pages().values().next().unwrap();
    let content = String::from_utf8(doc.get_page_content(page)).unwrap();
    assert_eq!(
        content.trim_end(),
        "BT /F1 24 Tf 72 720 Td (Hello from a source) Tj ET"
    );
}

/// A zip archive of `parts` (name, content), stored or deflated, each with a date.
pub(super) fn zip_of(parts: &[(&str, &str, bool)]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, content, stored) in parts {
        let method = if *stored {
            zip::CompressionMethod::Stored
        } else {
            zip::CompressionMethod::Deflated
        };
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(method)
            .last_modified_time(
                zip::DateTime::from_date_and_time(2026, 11, 30, 14, 2, 10).unwrap(),
            );
        w.start_file(*name, options).unwrap();
        w.write_all(content.as_bytes()).unwrap();
    }
    w.set_comment("made by J. Doe").unwrap();
    w.finish().unwrap().into_inner()
}

pub(super) const DOCX_BODY: &str = r#"<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>The minutes of the meeting.</w:t></w:r></w:p></w:body></w:document>"#;

pub(super) fn sample_docx() -> Vec<u8> {
    zip_of(&[
        (
            "[Content_Types].xml",
            r#"<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>"#,
            false,
        ),
        ("word/document.xml", DOCX_BODY, false),
        (
            "docProps/core.xml",
            r#"<?xml version="1.0"?><cp:coreProperties xmlns:cp="c" xmlns:dc="d" xmlns:dcterms="t"><dc:creator>J. Doe</dc:creator><cp:lastModifiedBy>A. N. Editor &amp; Co</cp:lastModifiedBy><dcterms:created>2026-11-30T14:02:11Z</dcterms:created><dc:title>Minutes</dc:title></cp:coreProperties>"#,
            false,
        ),
        (
            "docProps/app.xml",
            r#"<Properties xmlns="a"><Application>Firmware Office</Application><Company>Cairncam Ltd</Company><TotalTime>12</TotalTime></Properties>"#,
            false,
        ),
        (
            "docProps/custom.xml",
            r#"<Properties xmlns="c"><property name="Source"><vt:lpwstr>SN-4471-0042</vt:lpwstr></property></Properties>"#,
            false,
        ),
    ])
}

fn part(archive: &[u8], name: &str) -> Vec<u8> {
    let mut z = zip::ZipArchive::new(Cursor::new(archive)).unwrap();
    let mut out = Vec::new();
    z.by_name(name).unwrap().read_to_end(&mut out).unwrap();
    out
}

#[test]
fn a_docx_loses_its_properties_dates_and_comment_but_keeps_its_text() {
    let dirty = sample_docx();
    let c = clean(&dirty).unwrap().unwrap();
    assert_eq!(c.format, Format::Ooxml);
    let shown = removed_strings(&c);
    for want in [
        "author 'J. Doe'",
        "last modified by 'A. N. Editor & Co'",
        "dates of creation and modification",
        "description 'Minutes'",
        "software 'Firmware Office'",
        "company 'Cairncam Ltd'",
        "custom properties",
    ] {
        assert!(shown.iter().any(|s| s == want), "{want:?} not in {shown:?}");
    }
    assert_gone(
        &c.bytes,
        &["J. Doe", "Editor", "Cairncam", "Firmware", "SN-4471"],
    );
    assert_eq!(part(&c.bytes, "word/document.xml"), DOCX_BODY.as_bytes());
    let mut z = zip::ZipArchive::new(Cursor::new(&c.bytes[..])).unwrap();
    assert_eq!(z.len(), 5);
    assert!(z.comment().is_empty());
    for i in 0..z.len() {
        let e = z.by_index(i).unwrap();
        assert_eq!(
            e.last_modified(),
            Some(zip::DateTime::default()),
            "{:?}",
            e.name()
        );
    }
}

/// An OpenDocument text with a creator, an editor, a generator and a custom property.
pub(super) fn sample_odt() -> Vec<u8> {
    let meta = r#"<?xml version="1.0"?><office:document-meta xmlns:office="o" xmlns:meta="m" xmlns:dc="d" office:version="1.3"><office:meta><meta:initial-creator>J. Doe</meta:initial-creator><dc:creator>A. N. Editor</dc:creator><meta:generator>Firmware Writer</meta:generator><meta:user-defined meta:name="Source">SN-4471-0042</meta:user-defined></office:meta></office:document-meta>"#;
    zip_of(&[
        ("mimetype", "application/vnd.oasis.opendocument.text", true),
        (
            "content.xml",
            "<office:document-content>Minutes</office:document-content>",
            false,
        ),
        ("meta.xml", meta, false),
    ])
}

#[test]
fn an_odt_keeps_its_stored_mimetype_first_and_loses_its_meta() {
    let c = clean(&sample_odt()).unwrap().unwrap();
    assert_eq!(c.format, Format::Odf);
    let shown = removed_strings(&c);
    for want in [
        "author 'J. Doe'",
        "software 'Firmware Writer'",
        "custom properties",
    ] {
        assert!(shown.iter().any(|s| s == want), "{want:?} not in {shown:?}");
    }
    assert_gone(&c.bytes, &["J. Doe", "Editor", "Firmware", "SN-4471"]);
    let mut z = zip::ZipArchive::new(Cursor::new(&c.bytes[..])).unwrap();
    let first = z.by_index(0).unwrap();
    assert_eq!(first.name().unwrap(), "mimetype");
    assert_eq!(first.compression(), zip::CompressionMethod::Stored);
    drop(first);
    let meta = String::from_utf8(part(&c.bytes, "meta.xml")).unwrap();
    assert!(meta.contains("office:version=\"1.3\""), "{meta}");
}

#[test]
fn what_cairn_cannot_clean_is_said_and_what_is_broken_is_an_error() {
    assert_eq!(clean(b"just some text").unwrap(), None);
    assert_eq!(clean(&zip_of(&[("a.txt", "x", false)])).unwrap(), None);
    let jpeg = encode(image::ImageFormat::Jpeg);
    // Cut in its scan's data: no end of image.
    assert_eq!(
        clean(&jpeg[..jpeg.len() - 10]),
        Err(CleanError::Malformed(Format::Jpeg, "no end of image"))
    );
    assert!(matches!(
        clean(&jpeg[..40]),
        Err(CleanError::Malformed(Format::Jpeg, _))
    ));
    let png = encode(image::ImageFormat::Png);
    assert!(matches!(
        clean(&png[..30]),
        Err(CleanError::Malformed(Format::Png, _))
    ));
    assert!(matches!(
        clean(b"%PDF-1.7 garbage"),
        Err(CleanError::Malformed(Format::Pdf, _))
    ));
    let mut big = vec![0u8; MAX_CLEAN_LEN + 1];
    big[..4].copy_from_slice(b"%PDF");
    big[4] = b'-';
    assert_eq!(clean(&big), Err(CleanError::TooLarge));
}

#[test]
fn an_archive_that_inflates_beyond_the_budget_is_refused() {
    let zeros = "\0".repeat(1 << 20);
    let bomb = zip_of(&[
        ("[Content_Types].xml", "<Types/>", false),
        ("word/document.xml", &zeros, false),
    ]);
    let mut report = Report::default();
    assert!(matches!(
        office::clean_within(&bomb, Format::Ooxml, &mut report, 1 << 19),
        Ok(Out::TooMuch)
    ));
    assert!(matches!(
        office::clean_within(&bomb, Format::Ooxml, &mut report, 2 << 20),
        Ok(Out::Bytes(_))
    ));
}

#[test]
fn values_are_shown_without_control_characters_and_cut() {
    assert_eq!(shown("  J. Doe\u{1b}[2J\n"), "J. Doe [2J");
    let long = "x".repeat(200);
    let s = shown(&long);
    assert_eq!(s.chars().count(), MAX_SHOWN_CHARS);
    assert!(s.ends_with('…'));
    assert_eq!(shown("\u{7}\u{7}"), "");
}
