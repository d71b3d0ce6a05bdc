package syntax

import "time"

// MaxDatetimeLength is the longest datetime, in bytes, that ParseDatetime accepts.
const MaxDatetimeLength = 64

// Datetime is a validated atproto datetime such as "1985-04-12T23:20:50.123Z".
//
// A Datetime obtained from ParseDatetime is in the profile that both RFC 3339
// and ISO 8601 accept: YYYY-MM-DDTHH:MM:SS, an optional '.' with one or more
// fraction digits, and a time zone that is "Z" or ±HH:MM (but not "-00:00"),
// with an upper-case 'T' and 'Z', at most 64 bytes. The fields must form a
// real date and time (no month 13, no February 30, no second 60), and the
// instant in UTC must not fall before year 0. The preferred form, which
// NewDatetime produces, is UTC with millisecond precision. The zero value ""
// is invalid (empty).
type Datetime string

// DatetimeLayout is the time layout of the preferred datetime form, for UTC times.
const DatetimeLayout = "2006-01-02T15:04:05.000Z"

// ParseDatetime validates s as a datetime and returns it unchanged.
func ParseDatetime(s string) (Datetime, error) {
	if _, err := parseDatetime(s); err != nil {
		return "", err
	}
	return Datetime(s), nil
}

// NewDatetime returns t in the preferred form: UTC, millisecond precision
// (truncated). It returns the zero Datetime if t in UTC falls outside the years
// 0 to 9999.
func NewDatetime(t time.Time) Datetime {
	t = t.UTC()
	if t.Year() < 0 || t.Year() > 9999 {
		return ""
	}
	return Datetime(t.Format(DatetimeLayout))
}

// Time returns the instant d denotes, in UTC, with the fraction truncated to
// the nanosecond. It returns the zero time.Time for the zero Datetime.
func (d Datetime) Time() time.Time {
	t, err := parseDatetime(string(d))
	if err != nil {
		return time.Time{}
	}
	return t
}

// String returns the datetime exactly as parsed.
func (d Datetime) String() string { return string(d) }

// parseDatetime validates s and returns its instant in UTC.
func parseDatetime(s string) (time.Time, error) {
	// Fixed part: "YYYY-MM-DDTHH:MM:SS", 19 bytes.
	const minLen = len("1985-04-12T23:20:50Z")
	if len(s) < minLen {
		return time.Time{}, syntaxError(ErrInvalidDatetime, s, "too short")
	}
	if len(s) > MaxDatetimeLength {
		return time.Time{}, syntaxError(ErrInvalidDatetime, s, "longer than 64 bytes")
	}
	if s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' {
		return time.Time{}, syntaxError(ErrInvalidDatetime, s, "not YYYY-MM-DDTHH:MM:SS")
	}
	year, ok1 := digits(s[0:4])
	month, ok2 := digits(s[5:7])
	day, ok3 := digits(s[8:10])
	hour, ok4 := digits(s[11:13])
	minute, ok5 := digits(s[14:16])
	sec, ok6 := digits(s[17:19])
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 {
		return time.Time{}, syntaxError(ErrInvalidDatetime, s, "not YYYY-MM-DDTHH:MM:SS")
	}
	i := 19
	nanos := 0
	if s[i] == '.' {
		i++
		start := i
		scale := 100_000_000
		for i < len(s) && isDigit(s[i]) {
			nanos += int(s[i]-'0') * scale
			scale /= 10
			i++
		}
		if i == start {
			return time.Time{}, syntaxError(ErrInvalidDatetime, s, "empty fraction")
		}
	}
	offset := 0
	switch tz := s[i:]; {
	case tz == "Z":
	case len(tz) == 6 && (tz[0] == '+' || tz[0] == '-') && tz[3] == ':':
		oh, okh := digits(tz[1:3])
		om, okm := digits(tz[4:6])
		if !okh || !okm {
			return time.Time{}, syntaxError(ErrInvalidDatetime, s, "invalid time zone")
		}
		if oh > 23 || om > 59 {
			return time.Time{}, syntaxError(ErrInvalidDatetime, s, "time zone out of range")
		}
		if tz == "-00:00" {
			return time.Time{}, syntaxError(ErrInvalidDatetime, s, `time zone "-00:00" is not allowed`)
		}
		offset = oh*3600 + om*60
		if tz[0] == '-' {
			offset = -offset
		}
	default:
		return time.Time{}, syntaxError(ErrInvalidDatetime, s, `time zone must be "Z" or ±HH:MM`)
	}
	if month < 1 || month > 12 || day < 1 || day > daysIn(month, year) ||
		hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, syntaxError(ErrInvalidDatetime, s, "field out of range")
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nanos, time.UTC).
		Add(-time.Duration(offset) * time.Second)
	if t.Year() < 0 {
		return time.Time{}, syntaxError(ErrInvalidDatetime, s, "before year 0")
	}
	return t, nil
}

// digits parses an all-digit string of at most 4 bytes.
func digits(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}
