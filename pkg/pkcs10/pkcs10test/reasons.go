package pkcs10test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// ReasonConstants returns, sorted, the values of the exported constants
// named Reason* that the non-test Go files of the package in dir declare. A
// catalogue of reason codes is tested against it, so that a new constant
// cannot be left out. It fails the test for a Reason* constant whose value
// is not a string literal, which it could not read.
func ReasonConstants(t testing.TB, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	var codes []string
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatalf("parsing %s: %v", name, err)
		}
		for _, decl := range f.Decls {
			gen, ok := decl.(*ast.GenDecl)
			if !ok || gen.Tok != token.CONST {
				continue
			}
			for _, spec := range gen.Specs {
				codes = append(codes, reasonValues(t, fset, spec.(*ast.ValueSpec))...)
			}
		}
	}
	if len(codes) == 0 {
		t.Fatalf("no Reason* constants in %s", dir)
	}
	slices.Sort(codes)
	return codes
}

// reasonValues returns the values of the Reason* names of one const spec.
func reasonValues(t testing.TB, fset *token.FileSet, spec *ast.ValueSpec) []string {
	t.Helper()
	var values []string
	for i, id := range spec.Names {
		if !strings.HasPrefix(id.Name, "Reason") || !id.IsExported() {
			continue
		}
		var lit *ast.BasicLit
		if i < len(spec.Values) {
			lit, _ = spec.Values[i].(*ast.BasicLit)
		}
		if lit == nil || lit.Kind != token.STRING {
			t.Fatalf("%s: constant %s is not a string literal", fset.Position(id.Pos()), id.Name)
		}
		value, err := strconv.Unquote(lit.Value)
		if err != nil {
			t.Fatalf("%s: constant %s: %v", fset.Position(id.Pos()), id.Name, err)
		}
		values = append(values, value)
	}
	return values
}

// CheckReasonCatalogue fails the test unless catalogue lists every code of
// constants (see ReasonConstants), nothing else, and none twice.
func CheckReasonCatalogue(t testing.TB, catalogue, constants []string) {
	t.Helper()
	seen := map[string]bool{}
	for _, code := range catalogue {
		switch {
		case seen[code]:
			t.Errorf("the catalogue lists %s twice", code)
		case !slices.Contains(constants, code):
			t.Errorf("the catalogue lists %s, which no Reason* constant holds", code)
		}
		seen[code] = true
	}
	for _, code := range constants {
		if !seen[code] {
			t.Errorf("the catalogue lacks %s: enter its Reason* constant", code)
		}
	}
}
