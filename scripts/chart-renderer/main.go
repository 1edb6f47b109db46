// Command chart-renderer renders a Helm chart the way `helm template` does, for machines without helm
// (this repository's CI). It follows Helm 3's engine (helm.sh/helm/v3/pkg/engine, pkg/chartutil,
// pkg/strvals): Go text/template + sprig's TxtFuncMap without env/expandenv, plus Helm's own functions
// include, tpl, required, toYaml, fromYaml, toJson, fromJson, lookup (empty: no cluster), objects
// .Values .Release .Chart .Capabilities .Template .Files, values.schema.json validation before
// rendering, `-f` files and `--set` merged in Helm's order, user nulls deleting defaults, and the
// "<no value>" → "" rewrite of missingkey=zero. Only what real Helm supports is accepted here, so a chart
// that renders with this renders with helm.
//
// Known differences from helm: documents come out in template-file order (helm sorts by kind), no
// subcharts, `--set` list indexes must address existing or next elements.
//
// Built offline from Debian packages by scripts/render-chart.sh (GOPATH mode, no module downloads).
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig/v3"
	"github.com/xeipuuv/gojsonschema"
	"sigs.k8s.io/yaml"
)

// How helm splits a rendered template into documents (releaseutil.SplitManifests).
var documentSplit = regexp.MustCompile(`(?:^|\s*\n)---\s*`)

// Helm's limit on nested include/tpl calls (engine.recursionMaxNums).
const maxIncludeDepth = 1000

// The Kubernetes version .Capabilities reports, as `helm template` does without a cluster.
const kubeMajor, kubeMinor = "1", "29"

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func main() {
	var valueFiles, sets, setStrings stringList
	releaseName := flag.String("release-name", "spark", "release name (.Release.Name)")
	namespace := flag.String("namespace", "default", "namespace (.Release.Namespace)")
	notes := flag.Bool("notes", false, "print the rendered templates/NOTES.txt instead of the manifests")
	flag.Var(&valueFiles, "f", "values file (repeatable; later files win)")
	flag.Var(&valueFiles, "values", "same as -f")
	flag.Var(&sets, "set", "key=value[,key=value] (repeatable; wins over -f)")
	flag.Var(&setStrings, "set-string", "like --set, values always strings")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: chart-renderer [flags] CHART_DIR")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	out, err := render(flag.Arg(0), *releaseName, *namespace, valueFiles, sets, setStrings, *notes)
	if err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
	fmt.Print(out)
}

func render(chartDir, releaseName, namespace string, valueFiles, sets, setStrings []string, notesOnly bool) (string, error) {
	chartMeta, err := readYamlFile(filepath.Join(chartDir, "Chart.yaml"))
	if err != nil {
		return "", err
	}
	chartName, _ := chartMeta["name"].(string)
	if chartName == "" {
		return "", errors.New("Chart.yaml: name is required")
	}
	values, err := readYamlFile(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		return "", err
	}
	for _, f := range valueFiles {
		user, err := readYamlFile(f)
		if err != nil {
			return "", err
		}
		values = coalesce(user, values)
	}
	for _, s := range sets {
		if err := parseSet(s, values, false); err != nil {
			return "", fmt.Errorf("failed parsing --set data: %w", err)
		}
	}
	for _, s := range setStrings {
		if err := parseSet(s, values, true); err != nil {
			return "", fmt.Errorf("failed parsing --set-string data: %w", err)
		}
	}
	values = dropNulls(values).(map[string]interface{})
	if err := validateSchema(chartDir, chartName, values); err != nil {
		return "", err
	}
	files, err := loadFiles(chartDir)
	if err != nil {
		return "", err
	}
	top := map[string]interface{}{
		"Values":       values,
		"Release":      map[string]interface{}{"Name": releaseName, "Namespace": namespace, "Service": "Helm", "IsInstall": true, "IsUpgrade": false, "Revision": 1},
		"Chart":        chartObject(chartMeta),
		"Capabilities": capabilities(),
		"Files":        files,
	}
	return renderTemplates(chartDir, chartName, top, notesOnly)
}

// ---- values ----------------------------------------------------------------------------------------

func readYamlFile(name string) (map[string]interface{}, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	out := map[string]interface{}{}
	if err := yaml.Unmarshal(data, &out); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if out == nil {
		out = map[string]interface{}{}
	}
	return out, nil
}

// coalesce merges src over dst (chartutil.CoalesceTables): maps merge deeply, anything else replaces;
// a null in src is kept so that dropNulls can delete the default, as Helm does.
func coalesce(src, dst map[string]interface{}) map[string]interface{} {
	for k, v := range src {
		srcMap, srcIsMap := v.(map[string]interface{})
		dstMap, dstIsMap := dst[k].(map[string]interface{})
		if srcIsMap && dstIsMap {
			dst[k] = coalesce(srcMap, dstMap)
		} else {
			dst[k] = v
		}
	}
	return dst
}

func dropNulls(v interface{}) interface{} {
	switch t := v.(type) {
	case map[string]interface{}:
		for k, child := range t {
			if child == nil {
				delete(t, k)
			} else {
				t[k] = dropNulls(child)
			}
		}
	case []interface{}:
		for i, child := range t {
			t[i] = dropNulls(child)
		}
	}
	return v
}

// parseSet applies one --set argument (pkg/strvals): comma-separated key=value pairs, dotted keys,
// `\.` and `\,` escapes, `name[i]` list indexes, `{a,b}` lists; values typed like Helm's (int64, bool,
// null) unless asString.
func parseSet(arg string, values map[string]interface{}, asString bool) error {
	for _, pair := range splitUnescaped(arg, ',', true) {
		eq := indexUnescaped(pair, '=')
		if eq < 0 {
			return fmt.Errorf("key %q has no value", pair)
		}
		keys := splitUnescaped(pair[:eq], '.', false)
		raw := pair[eq+1:]
		var value interface{}
		if strings.HasPrefix(raw, "{") && strings.HasSuffix(raw, "}") {
			items := []interface{}{}
			for _, item := range splitUnescaped(raw[1:len(raw)-1], ',', false) {
				items = append(items, typedValue(unescape(item), asString))
			}
			value = items
		} else {
			value = typedValue(unescape(raw), asString)
		}
		if err := setPath(values, keys, value); err != nil {
			return err
		}
	}
	return nil
}

func typedValue(s string, asString bool) interface{} {
	if asString {
		return s
	}
	switch s {
	case "true":
		return true
	case "false":
		return false
	case "null":
		return nil
	}
	if len(s) > 1 && s[0] == '0' {
		return s // Helm keeps leading-zero numbers as strings
	}
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return i
	}
	return s
}

func setPath(node map[string]interface{}, keys []string, value interface{}) error {
	for i, rawKey := range keys {
		key := unescape(rawKey)
		last := i == len(keys)-1
		name, index, hasIndex, err := splitIndex(key)
		if err != nil {
			return err
		}
		if !hasIndex {
			if last {
				node[name] = value
				return nil
			}
			child, ok := node[name].(map[string]interface{})
			if !ok {
				child = map[string]interface{}{}
				node[name] = child
			}
			node = child
			continue
		}
		list, _ := node[name].([]interface{})
		if index > len(list) {
			return fmt.Errorf("%s: index %d skips elements (list has %d)", key, index, len(list))
		}
		if index == len(list) {
			list = append(list, nil)
		}
		node[name] = list
		if last {
			list[index] = value
			return nil
		}
		child, ok := list[index].(map[string]interface{})
		if !ok {
			child = map[string]interface{}{}
			list[index] = child
		}
		node = child
	}
	return nil
}

func splitIndex(key string) (string, int, bool, error) {
	open := strings.IndexByte(key, '[')
	if open < 0 || !strings.HasSuffix(key, "]") {
		return key, 0, false, nil
	}
	index, err := strconv.Atoi(key[open+1 : len(key)-1])
	if err != nil || index < 0 {
		return "", 0, false, fmt.Errorf("%s: bad list index", key)
	}
	return key[:open], index, true, nil
}

// splitUnescaped splits on sep outside backslash escapes (and outside {…} when braces is set), keeping
// the escapes for unescape to remove later.
func splitUnescaped(s string, sep byte, braces bool) []string {
	var parts []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\':
			i++
		case braces && s[i] == '{':
			depth++
		case braces && s[i] == '}':
			depth--
		case s[i] == sep && depth == 0:
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}

func indexUnescaped(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' {
			i++
		} else if s[i] == c {
			return i
		}
	}
	return -1
}

func unescape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// validateSchema checks values against values.schema.json with the library Helm 3 used for it
// (xeipuuv/gojsonschema), and words the error like helm.
func validateSchema(chartDir, chartName string, values map[string]interface{}) error {
	schema, err := os.ReadFile(filepath.Join(chartDir, "values.schema.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	doc, err := json.Marshal(values)
	if err != nil {
		return err
	}
	result, err := gojsonschema.Validate(gojsonschema.NewBytesLoader(schema), gojsonschema.NewBytesLoader(doc))
	if err != nil {
		return fmt.Errorf("values.schema.json: %w", err)
	}
	if result.Valid() {
		return nil
	}
	var msg strings.Builder
	fmt.Fprintf(&msg, "values don't meet the specifications of the schema(s) in the following chart(s):\n%s:\n", chartName)
	for _, e := range result.Errors() {
		fmt.Fprintf(&msg, "- %s\n", e)
	}
	return errors.New(strings.TrimSuffix(msg.String(), "\n"))
}

// ---- built-in objects ------------------------------------------------------------------------------

// chartObject maps Chart.yaml keys to the field names templates use (.Chart.Name, .Chart.AppVersion).
func chartObject(meta map[string]interface{}) map[string]interface{} {
	out := map[string]interface{}{}
	for k, v := range meta {
		name := strings.ToUpper(k[:1]) + k[1:]
		if k == "apiVersion" {
			name = "APIVersion"
		}
		out[name] = v
	}
	return out
}

type apiVersions []string

// Has reports whether the API version (or version/Kind) is known, as chartutil.VersionSet does.
func (v apiVersions) Has(want string) bool {
	for _, have := range v {
		if have == want {
			return true
		}
	}
	return false
}

func capabilities() map[string]interface{} {
	version := "v" + kubeMajor + "." + kubeMinor + ".0"
	return map[string]interface{}{
		"KubeVersion": map[string]interface{}{"Version": version, "GitVersion": version, "Major": kubeMajor, "Minor": kubeMinor},
		"APIVersions": apiVersions{"v1", "apps/v1", "batch/v1", "autoscaling/v2", "policy/v1", "networking.k8s.io/v1", "rbac.authorization.k8s.io/v1"},
		"HelmVersion": map[string]interface{}{"Version": "v3-compatible"},
	}
}

// files is .Files: every chart file outside templates/, by chart-relative path (helm's chart.File list).
type files map[string][]byte

func (f files) Get(name string) string      { return string(f[name]) }
func (f files) GetBytes(name string) []byte { return f[name] }

// Glob returns the files whose path matches the pattern (path.Match syntax).
func (f files) Glob(pattern string) files {
	out := files{}
	for name, data := range f {
		if ok, _ := path.Match(pattern, name); ok {
			out[name] = data
		}
	}
	return out
}

func loadFiles(chartDir string) (files, error) {
	out := files{}
	err := filepath.WalkDir(chartDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(chartDir, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if rel == "templates" {
				return filepath.SkipDir
			}
			return nil
		}
		if rel == "Chart.yaml" || rel == "values.yaml" || rel == "values.schema.json" {
			return nil
		}
		data, err := os.ReadFile(p)
		out[rel] = data
		return err
	})
	return out, err
}

// ---- templates -------------------------------------------------------------------------------------

type engine struct {
	tmpl  *template.Template
	depth map[string]int
}

func (e *engine) funcMap() template.FuncMap {
	fm := sprig.TxtFuncMap()
	delete(fm, "env")
	delete(fm, "expandenv")
	fm["toYaml"] = func(v interface{}) string {
		data, err := yaml.Marshal(v)
		if err != nil {
			return ""
		}
		return strings.TrimSuffix(string(data), "\n")
	}
	fm["fromYaml"] = func(s string) map[string]interface{} {
		m := map[string]interface{}{}
		if err := yaml.Unmarshal([]byte(s), &m); err != nil {
			m["Error"] = err.Error()
		}
		return m
	}
	fm["toJson"] = func(v interface{}) string {
		data, err := json.Marshal(v)
		if err != nil {
			return ""
		}
		return string(data)
	}
	fm["fromJson"] = func(s string) map[string]interface{} {
		m := map[string]interface{}{}
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			m["Error"] = err.Error()
		}
		return m
	}
	fm["required"] = func(msg string, v interface{}) (interface{}, error) {
		if v == nil {
			return v, errors.New(msg)
		}
		if s, ok := v.(string); ok && s == "" {
			return v, errors.New(msg)
		}
		return v, nil
	}
	fm["lookup"] = func(apiVersion, kind, namespace, name string) (map[string]interface{}, error) {
		return map[string]interface{}{}, nil
	}
	fm["include"] = e.include
	fm["tpl"] = e.tpl
	return fm
}

func (e *engine) include(name string, data interface{}) (string, error) {
	e.depth[name]++
	defer func() { e.depth[name]-- }()
	if e.depth[name] > maxIncludeDepth {
		return "", fmt.Errorf("rendering template has a nested reference name: %s", name)
	}
	var buf bytes.Buffer
	if err := e.tmpl.ExecuteTemplate(&buf, name, data); err != nil {
		return "", err
	}
	return buf.String(), nil
}

// tpl renders a string as a template in the chart's context (named templates stay reachable).
func (e *engine) tpl(text string, data interface{}) (string, error) {
	clone, err := e.tmpl.Clone()
	if err != nil {
		return "", err
	}
	t, err := clone.New("tpl").Parse(text)
	if err != nil {
		return "", fmt.Errorf("cannot parse template %q: %w", text, err)
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		return "", fmt.Errorf("error calling tpl: %w", err)
	}
	return strings.ReplaceAll(buf.String(), "<no value>", ""), nil
}

func renderTemplates(chartDir, chartName string, top map[string]interface{}, notesOnly bool) (string, error) {
	e := &engine{depth: map[string]int{}}
	e.tmpl = template.New("gotpl").Option("missingkey=zero")
	e.tmpl.Funcs(e.funcMap())
	var names []string
	root := filepath.Join(chartDir, "templates")
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(chartDir, p)
		name := chartName + "/" + filepath.ToSlash(rel)
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if _, err := e.tmpl.New(name).Parse(string(data)); err != nil {
			return fmt.Errorf("parse error in %q: %w", name, err)
		}
		names = append(names, name)
		return nil
	})
	if err != nil {
		return "", err
	}
	sort.Strings(names)
	var out strings.Builder
	for _, name := range names {
		base := path.Base(name)
		isNotes := base == "NOTES.txt"
		if strings.HasPrefix(base, "_") || isNotes != notesOnly {
			continue
		}
		data := map[string]interface{}{}
		for k, v := range top {
			data[k] = v
		}
		data["Template"] = map[string]interface{}{"Name": name, "BasePath": chartName + "/templates"}
		var buf bytes.Buffer
		if err := e.tmpl.ExecuteTemplate(&buf, name, data); err != nil {
			return "", err
		}
		text := strings.ReplaceAll(buf.String(), "<no value>", "")
		if notesOnly {
			out.WriteString(strings.TrimRight(text, "\n") + "\n")
			continue
		}
		for i, doc := range documentSplit.Split("\n"+text, -1) {
			if strings.TrimSpace(doc) == "" {
				continue
			}
			// helm parses every document before sorting them; a template that yields bad YAML fails here.
			var obj map[string]interface{}
			if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
				return "", fmt.Errorf("YAML parse error on %s (document %d): %w", name, i+1, err)
			}
			fmt.Fprintf(&out, "---\n# Source: %s\n%s\n", name, strings.Trim(doc, "\n"))
		}
	}
	return out.String(), nil
}
