// Command render renders the Lantern chart with Helm's own template engine (the helm.sh/helm/v3
// library: the same loader, values coalescing, schema validation and engine as `helm template`),
// for environments where no helm binary can be installed.
//
// Usage: go run . <chart dir> <out dir> [values.yaml...]
// Writes one file per template to <out dir>; exits non-zero, with Helm's message, when the
// values fail values.schema.json or a template fails (e.g. the chart's replica checks).
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: render <chart dir> <out dir> [values.yaml...]")
		os.Exit(2)
	}
	if err := render(os.Args[1], os.Args[2], os.Args[3:]); err != nil {
		fmt.Fprintln(os.Stderr, "render:", err)
		os.Exit(1)
	}
}

func render(chartDir, outDir string, valuesFiles []string) error {
	chart, err := loader.Load(chartDir)
	if err != nil {
		return fmt.Errorf("loading %s: %w", chartDir, err)
	}
	values := map[string]interface{}{}
	for _, file := range valuesFiles {
		next, err := chartutil.ReadValuesFile(file)
		if err != nil {
			return fmt.Errorf("reading %s: %w", file, err)
		}
		values = chartutil.MergeTables(next, values)
	}
	options := chartutil.ReleaseOptions{Name: "lantern", Namespace: "lantern", IsInstall: true}
	// ToRenderValues coalesces with the chart's values.yaml and checks values.schema.json.
	renderValues, err := chartutil.ToRenderValues(chart, values, options, chartutil.DefaultCapabilities)
	if err != nil {
		return err
	}
	rendered, err := engine.Render(chart, renderValues)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	for name, text := range rendered {
		base := filepath.Base(name)
		if strings.HasPrefix(base, "_") || strings.TrimSpace(text) == "" {
			continue
		}
		if err := os.WriteFile(filepath.Join(outDir, base), []byte(text), 0o644); err != nil {
			return err
		}
	}
	return nil
}
