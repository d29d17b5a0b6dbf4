// hcl_check parses HCL files with HashiCorp's own parser (hclsyntax, Debian's
// golang-github-hashicorp-hcl-v2-dev) and prints each file's structure as JSON: blocks with their
// type, labels, attributes and nested blocks. An attribute is its value where it needs no
// variables (a literal string, number, list...), otherwise {"expr": "<source text>"}.
// Syntax errors go to stderr as FILE:LINE:COLUMN: message, with exit status 1.
//
//	hcl_check FILE...
package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	ctyjson "github.com/zclconf/go-cty/cty/json"
)

type block struct {
	Type       string                     `json:"type"`
	Labels     []string                   `json:"labels"`
	Attributes map[string]json.RawMessage `json:"attributes"`
	Blocks     []block                    `json:"blocks"`
}

func value(expr hclsyntax.Expression, src []byte) json.RawMessage {
	v, diags := expr.Value(nil)
	if !diags.HasErrors() && v.IsWhollyKnown() {
		simple := ctyjson.SimpleJSONValue{Value: v}
		if out, err := simple.MarshalJSON(); err == nil {
			return out
		}
	}
	text, _ := json.Marshal(map[string]string{"expr": string(expr.Range().SliceBytes(src))})
	return text
}

func walk(body *hclsyntax.Body, src []byte) block {
	out := block{Attributes: map[string]json.RawMessage{}, Blocks: []block{}, Labels: []string{}}
	for name, attr := range body.Attributes {
		out.Attributes[name] = value(attr.Expr, src)
	}
	for _, b := range body.Blocks {
		child := walk(b.Body, src)
		child.Type = b.Type
		child.Labels = append(child.Labels, b.Labels...)
		out.Blocks = append(out.Blocks, child)
	}
	return out
}

func main() {
	files := map[string]block{}
	failed := false
	for _, path := range os.Args[1:] {
		src, err := os.ReadFile(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		file, diags := hclsyntax.ParseConfig(src, path, hcl.Pos{Line: 1, Column: 1})
		for _, d := range diags {
			if d.Subject != nil {
				fmt.Fprintf(os.Stderr, "%s:%d:%d: %s: %s\n", path, d.Subject.Start.Line,
					d.Subject.Start.Column, d.Summary, d.Detail)
			} else {
				fmt.Fprintf(os.Stderr, "%s: %s: %s\n", path, d.Summary, d.Detail)
			}
		}
		if diags.HasErrors() {
			failed = true
			continue
		}
		files[path] = walk(file.Body.(*hclsyntax.Body), src)
	}
	if failed {
		os.Exit(1)
	}
	out, _ := json.MarshalIndent(files, "", "  ")
	fmt.Println(string(out))
}
