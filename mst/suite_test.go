package mst_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"path"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/atlite-dev/atlite/mst"
)

// suiteCase is one mst-diff case of DavidBuchanan314/mst-test-suite.
type suiteCase struct {
	Name   string
	Type   string `json:"$type"`
	Inputs struct {
		MSTA string `json:"mst_a"`
		MSTB string `json:"mst_b"`
	} `json:"inputs"`
	Results struct {
		CreatedNodes []string `json:"created_nodes"`
		DeletedNodes []string `json:"deleted_nodes"`
		RecordOps    []struct {
			RPath    string  `json:"rpath"`
			OldValue *string `json:"old_value"`
			NewValue *string `json:"new_value"`
		} `json:"record_ops"`
		ProofNodes          []string `json:"proof_nodes"`
		InductiveProofNodes []string `json:"inductive_proof_nodes"`
	} `json:"results"`
}

type suite struct {
	cases  []suiteCase
	roots  map[string]cid.Cid // CAR path -> root
	blocks *mst.MemBlocks     // every block of every CAR
}

var (
	suiteOnce sync.Once
	suiteData *suite
	suiteErr  error
)

// loadSuite unpacks testdata/mst-test-suite.tar.gz in memory, once per test
// binary.
func loadSuite(tb testing.TB) *suite {
	tb.Helper()
	suiteOnce.Do(func() {
		suiteData, suiteErr = readSuite("../testdata/mst-test-suite.tar.gz")
	})
	if suiteErr != nil {
		tb.Fatal(suiteErr)
	}
	return suiteData
}

func readSuite(file string) (*suite, error) {
	data, err := readFileErr(file)
	if err != nil {
		return nil, err
	}
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	s := &suite{roots: make(map[string]cid.Cid), blocks: &mst.MemBlocks{}}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		name := strings.TrimPrefix(h.Name, "mst-test-suite/")
		b, err := io.ReadAll(tr)
		if err != nil {
			return nil, err
		}
		switch {
		case strings.HasSuffix(name, ".car"):
			root, blocks, err := readCAR(b)
			if err != nil {
				return nil, err
			}
			s.roots["./"+name] = root
			s.blocks.PutMany(blocks)
		case strings.HasSuffix(name, ".json") && strings.HasPrefix(name, "tests/"):
			var c suiteCase
			if err := json.Unmarshal(b, &c); err != nil {
				return nil, err
			}
			c.Name = strings.TrimSuffix(path.Base(name), ".json")
			s.cases = append(s.cases, c)
		}
	}
	slices.SortFunc(s.cases, func(a, b suiteCase) int { return strings.Compare(a.Name, b.Name) })
	return s, nil
}

// TestMSTSuite runs all 16,384 mst-diff cases: created and deleted nodes,
// record ops, proof nodes and inductive proof nodes, each compared as a set
// (firehose_cids is "TODO" in the data). It also applies the record ops to
// tree A and checks that the result is tree B.
func TestMSTSuite(t *testing.T) {
	s := loadSuite(t)
	if len(s.cases) != 16384 {
		t.Fatalf("%d cases, want 16384", len(s.cases))
	}
	if len(s.roots) != 128 {
		t.Fatalf("%d CARs, want 128", len(s.roots))
	}
	ctx := context.Background()
	var (
		mu       sync.Mutex
		failures []string
		nfail    int
	)
	fail := func(name, msg string) {
		mu.Lock()
		defer mu.Unlock()
		nfail++
		if len(failures) < 10 {
			failures = append(failures, name+": "+msg)
		}
	}
	work := make(chan *suiteCase)
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range work {
				if msg := runSuiteCase(ctx, s, c); msg != "" {
					fail(c.Name, msg)
				}
			}
		}()
	}
	for i := range s.cases {
		if s.cases[i].Type != "mst-diff" {
			t.Fatalf("%s: $type %q", s.cases[i].Name, s.cases[i].Type)
		}
		work <- &s.cases[i]
	}
	close(work)
	wg.Wait()
	for _, f := range failures {
		t.Error(f)
	}
	if nfail > 0 {
		t.Errorf("%d of %d cases failed", nfail, len(s.cases))
	}
}

func runSuiteCase(ctx context.Context, s *suite, c *suiteCase) string {
	ra, ok1 := s.roots[c.Inputs.MSTA]
	rb, ok2 := s.roots[c.Inputs.MSTB]
	if !ok1 || !ok2 {
		return "missing CAR " + c.Inputs.MSTA + " or " + c.Inputs.MSTB
	}
	a, b := mst.Load(s.blocks, ra), mst.Load(s.blocks, rb)
	d, err := mst.Diff(ctx, a, b)
	if err != nil {
		return "Diff: " + err.Error()
	}
	var msgs []string
	cmp := func(field string, got []cid.Cid, want []string) {
		g := cidStrings(got)
		slices.Sort(g)
		w := slices.Clone(want)
		slices.Sort(w)
		if !slices.Equal(g, w) {
			msgs = append(msgs, field+" = "+strings.Join(g, ",")+", want "+strings.Join(w, ","))
		}
	}
	cmp("created_nodes", d.CreatedNodes, c.Results.CreatedNodes)
	cmp("deleted_nodes", d.DeletedNodes, c.Results.DeletedNodes)
	cmp("proof_nodes", d.ProofNodes, c.Results.ProofNodes)
	cmp("inductive_proof_nodes", d.InductiveProofNodes, c.Results.InductiveProofNodes)

	var gotOps, wantOps []string
	for _, op := range d.RecordOps {
		gotOps = append(gotOps, op.Key+" "+cidOrNull(op.Old)+" "+cidOrNull(op.New))
	}
	for _, op := range c.Results.RecordOps {
		wantOps = append(wantOps, op.RPath+" "+strOrNull(op.OldValue)+" "+strOrNull(op.NewValue))
	}
	slices.Sort(gotOps)
	slices.Sort(wantOps)
	if !slices.Equal(gotOps, wantOps) {
		msgs = append(msgs, "record_ops = "+strings.Join(gotOps, ";")+", want "+strings.Join(wantOps, ";"))
	}

	// The ops applied to A give B.
	var writes []mst.Write
	for _, op := range d.RecordOps {
		switch {
		case !op.New.Defined():
			writes = append(writes, mst.Write{Action: mst.ActionDelete, Key: op.Key})
		case !op.Old.Defined():
			writes = append(writes, mst.Write{Action: mst.ActionCreate, Key: op.Key, Value: op.New})
		default:
			writes = append(writes, mst.Write{Action: mst.ActionUpdate, Key: op.Key, Value: op.New})
		}
	}
	a2, err := a.Apply(ctx, writes)
	if err != nil {
		msgs = append(msgs, "Apply: "+err.Error())
	} else if got, _ := a2.Root(ctx); got != rb {
		msgs = append(msgs, "Apply(ops) root = "+got.String()+", want "+rb.String())
	}
	return strings.Join(msgs, "; ")
}

func cidOrNull(c cid.Cid) string {
	if !c.Defined() {
		return "null"
	}
	return c.String()
}

func strOrNull(s *string) string {
	if s == nil {
		return "null"
	}
	return *s
}
