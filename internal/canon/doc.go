// Package canon holds the encodings that the packages which sign and parse
// records (ledger, storage, and next economy) share, so that each form has
// one definition:
//
//   - AppendString and AppendStrings write the fields of a signed message:
//     a string is its length as a big-endian uint32 followed by its bytes;
//     a list is its count as a big-endian uint32 followed by each string.
//     A length prefix makes the encoding unambiguous ("ab"+"c" differs from
//     "a"+"bc"). Callers bound their strings far below 2^32 bytes.
//   - LowerHex and IsLowerHex accept hex in one spelling only, lower case,
//     so a key or signature has exactly one text form (hex.DecodeString
//     would also take upper case, and a record could then be rewritten
//     without changing what it means).
//   - DecodeJSON decodes exactly one JSON value with no unknown object
//     fields and nothing after it, so that a document with a misspelled
//     field or appended data is refused rather than half-read. It keeps
//     encoding/json's case-insensitive key matching and last-wins repeated
//     keys; callers that must refuse those check the keys first (storage's
//     policy does).
package canon
