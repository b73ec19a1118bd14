// Package fixed parses and formats fixed-point decimals with six fractional
// digits ("micro" units), the one representation used for money and metered
// units in JSON: a decimal string such as "12.5" or "0.000001", never a float.
package fixed
