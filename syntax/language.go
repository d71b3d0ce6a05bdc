package syntax

import "strings"

// Language is a validated BCP 47 language tag such as "en", "pt-BR" or
// "zh-Hant".
//
// A Language obtained from ParseLanguage is well-formed per RFC 5646 section
// 2.1 and "valid" in the sense of section 2.2.9 as far as syntax goes: no
// variant subtag and no extension singleton appears twice (compared
// case-insensitively). atproto further requires the primary language subtag
// to be two or three lower-case letters, so "JA" and the reserved four- to
// eight-letter primaries are rejected; private-use tags ("x-..." or
// "X-...") and the irregular grandfathered tags of RFC 5646 ("i-default",
// "sgn-BE-NL", ...) are accepted. Subtags after the first are
// case-insensitive and kept as given. The zero value "" is invalid (empty).
type Language string

// irregularLanguages are the irregular grandfathered tags of RFC 5646, which
// the regular grammar does not produce.
var irregularLanguages = []string{
	"en-GB-oed", "i-ami", "i-bnn", "i-default", "i-enochian", "i-hak", "i-klingon",
	"i-lux", "i-mingo", "i-navajo", "i-pwn", "i-tao", "i-tay", "i-tsu",
	"sgn-BE-FR", "sgn-BE-NL", "sgn-CH-DE",
}

// ParseLanguage validates s as a language tag and returns it unchanged.
func ParseLanguage(s string) (Language, error) {
	if reason := checkLanguage(s); reason != "" {
		return "", syntaxError(ErrInvalidLanguage, s, reason)
	}
	return Language(s), nil
}

// String returns the language tag exactly as parsed.
func (l Language) String() string { return string(l) }

// Language tag parse states, in grammar order.
const (
	langExtlang = iota // after the primary language; extlang, script, region, ... may follow
	langScript
	langRegion
	langVariant
	langExtension
)

// checkLanguage returns "" if s is acceptable, else the reason it is not.
func checkLanguage(s string) string {
	first, rest, hasRest := strings.Cut(s, "-")
	switch {
	case first == "x" || first == "X":
		return checkPrivateUse(s)
	case first == "i":
		if isIrregularLanguage(s) {
			return ""
		}
		return "unknown grandfathered tag"
	case len(first) < 2 || len(first) > 3:
		return "primary language must be two or three lower-case letters"
	}
	for i := 0; i < len(first); i++ {
		if first[i] < 'a' || first[i] > 'z' {
			return "primary language must be two or three lower-case letters"
		}
	}
	if !hasRest {
		return ""
	}
	reason := checkLanguageRest(rest)
	if reason != "" && isIrregularLanguage(s) {
		return ""
	}
	return reason
}

func isIrregularLanguage(s string) bool {
	for _, g := range irregularLanguages {
		if strings.EqualFold(s, g) {
			return true
		}
	}
	return false
}

// checkLanguageRest checks the subtags after a valid primary language.
func checkLanguageRest(rest string) string {
	state := langExtlang
	extlangs := 0
	var singletons [36]bool // extension singletons seen: 0-9, a-z
	var variantBuf [8]string
	variants := variantBuf[:0]
	var variantSet map[string]bool // used once variants grows long
	inExtension := false           // an extension singleton needs at least one subtag
	for more := true; more; {
		var sub string
		sub, rest, more = strings.Cut(rest, "-")
		n := len(sub)
		if n == 0 || n > 8 || !isAlnumString(sub) {
			return "subtags must be 1 to 8 letters or digits"
		}
		switch {
		case inExtension:
			if n < 2 {
				return "extension subtag shorter than 2 characters"
			}
			inExtension = false
			continue
		case n == 1:
			c := lowerASCII(sub[0])
			if c == 'x' {
				return checkPrivateUseSubtags(rest, more)
			}
			idx := int(c - '0')
			if c >= 'a' {
				idx = int(c-'a') + 10
			}
			if singletons[idx] {
				return "repeated extension singleton"
			}
			singletons[idx] = true
			state = langExtension
			inExtension = true
			continue
		case state == langExtension:
			if n < 2 {
				return "extension subtag shorter than 2 characters"
			}
			continue
		case state == langExtlang && n == 3 && isAlphaString(sub) && extlangs < 3:
			extlangs++
			continue
		case state <= langScript && n == 4 && isAlphaString(sub):
			state = langRegion
			continue
		case state <= langRegion && ((n == 2 && isAlphaString(sub)) || (n == 3 && isDigitString(sub))):
			state = langVariant
			continue
		case (n >= 5) || (n == 4 && isDigit(sub[0])):
			state = langVariant
			if variantSet == nil && len(variants) == len(variantBuf) {
				variantSet = make(map[string]bool, 2*len(variants))
				for _, v := range variants {
					variantSet[strings.ToLower(v)] = true
				}
			}
			if variantSet != nil {
				k := strings.ToLower(sub)
				if variantSet[k] {
					return "repeated variant"
				}
				variantSet[k] = true
				continue
			}
			for _, v := range variants {
				if strings.EqualFold(v, sub) {
					return "repeated variant"
				}
			}
			variants = append(variants, sub)
			continue
		}
		return "subtag out of place"
	}
	if inExtension {
		return "extension singleton without subtags"
	}
	return ""
}

// checkPrivateUse checks a whole private-use tag "x-...".
func checkPrivateUse(s string) string {
	_, rest, more := strings.Cut(s, "-")
	return checkPrivateUseSubtags(rest, more)
}

// checkPrivateUseSubtags checks what follows a private-use "x": one or more
// subtags of 1 to 8 letters or digits.
func checkPrivateUseSubtags(rest string, more bool) string {
	if !more {
		return "private use without subtags"
	}
	for {
		sub, r, ok := strings.Cut(rest, "-")
		if len(sub) == 0 || len(sub) > 8 || !isAlnumString(sub) {
			return "private-use subtags must be 1 to 8 letters or digits"
		}
		if !ok {
			return ""
		}
		rest = r
	}
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func isAlnumString(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isAlnum(s[i]) {
			return false
		}
	}
	return true
}

func isAlphaString(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isAlpha(s[i]) {
			return false
		}
	}
	return true
}

func isDigitString(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}
