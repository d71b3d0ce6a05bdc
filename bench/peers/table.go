package main

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
)

// table renders the result as a markdown table. Each cell gives the
// range of the rounds' values; the ratio column gives each round's ratio,
// indigo / atlite for times and sizes and atlite / indigo for rates, so
// that above 1 always means atlite is ahead.
func (r *result) table() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "%d records, %d round(s), %s %s/%s, %d CPUs\n\n", r.cfg.N, r.cfg.Rounds, runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU())
	sb.WriteString("| workload | atlite | indigo (sqlite carstore, WAL) | ratio per round (above 1: atlite ahead) | notes |\n|---|---|---|---|---|\n")
	for _, rw := range r.rows {
		var ratios []string
		for i := range rw.atlite {
			if rw.indigo == nil {
				break
			}
			j := min(i, len(rw.indigo)-1)
			q := rw.indigo[j] / rw.atlite[i]
			if rw.higher {
				q = rw.atlite[i] / rw.indigo[j]
			}
			ratios = append(ratios, fmt.Sprintf("%.2f", q))
		}
		ind := "-"
		if rw.indigo != nil {
			ind = fmtRange(rw.indigo, rw.unit)
		}
		ratio := strings.Join(ratios, " / ")
		if ratio == "" {
			ratio = "-"
		}
		fmt.Fprintf(&sb, "| %s | %s | %s | %s | %s |\n", rw.name, fmtRange(rw.atlite, rw.unit), ind, ratio, rw.note)
	}
	if fl := r.find("floor:"); fl != nil {
		if sc := r.find("single-record commit"); sc != nil {
			var q []string
			for i := range sc.atlite {
				q = append(q, fmt.Sprintf("%.2f", sc.atlite[i]/fl.atlite[i]))
			}
			fmt.Fprintf(&sb, "\natlite single-record commit / floor, per round: %s\n", strings.Join(q, " / "))
		}
	}
	fmt.Fprintf(&sb, "\nrecords: atlite %d, indigo %d; atlite's export verified by atlite %d, by indigo %d; imported by atlite %d, by indigo %d; indigo's export imported by atlite: %d\n",
		r.AtliteRecords, r.IndigoRecords, r.AtliteVerified, r.IndigoVerified, r.AtliteImported, r.IndigoImported, r.CrossImported)
	return sb.String()
}

// find returns the row whose name starts with prefix.
func (r *result) find(prefix string) *row {
	for i := range r.rows {
		if strings.HasPrefix(r.rows[i].name, prefix) {
			return &r.rows[i]
		}
	}
	return nil
}

// fmtRange formats values as "min-max unit" (or one value).
func fmtRange(vs []float64, unit string) string {
	lo, hi := slices.Min(vs), slices.Max(vs)
	f := func(v float64) string {
		switch {
		case v >= 10000:
			return fmt.Sprintf("%.0fk", v/1000)
		case v >= 100:
			return fmt.Sprintf("%.0f", v)
		case v >= 10:
			return fmt.Sprintf("%.1f", v)
		default:
			return fmt.Sprintf("%.3g", v)
		}
	}
	if f(lo) == f(hi) {
		return f(lo) + " " + unit
	}
	return f(lo) + "-" + f(hi) + " " + unit
}
