// Command ggufparser prints gguf-parser-go's estimate of the llama.cpp buffers
// for one GGUF file and one set of llama.cpp settings, as JSON.
//
// It uses the library's root package (ParseGGUFFile + EstimateLLaMACppRun),
// since gguf-parser-go's cmd/ cannot be `go install`ed.
//
//	ggufparser -file X.gguf -ctx 4096 -batch 2048 -ubatch 512 -parallel 1 \
//	    -fa on|off -ctk f16 -ctv f16 [-offload cpu|full]
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime/debug"
	"strings"

	gp "github.com/gpustack/gguf-parser-go"
)

func ggmlType(s string) (gp.GGMLType, error) {
	switch strings.ToLower(s) {
	case "f32":
		return gp.GGMLTypeF32, nil
	case "f16":
		return gp.GGMLTypeF16, nil
	case "bf16":
		return gp.GGMLTypeBF16, nil
	case "q8_0":
		return gp.GGMLTypeQ8_0, nil
	case "q4_0":
		return gp.GGMLTypeQ4_0, nil
	case "q4_1":
		return gp.GGMLTypeQ4_1, nil
	case "q5_0":
		return gp.GGMLTypeQ5_0, nil
	case "q5_1":
		return gp.GGMLTypeQ5_1, nil
	case "iq4_nl":
		return gp.GGMLTypeIQ4_NL, nil
	}
	return 0, fmt.Errorf("unknown cache type %q", s)
}

type device struct {
	Weights     uint64 `json:"weights"`
	KV          uint64 `json:"kv"`
	Compute     uint64 `json:"compute"`      // Computation.Sum(): footprint + input + max(graph, output)
	ComputeGrph uint64 `json:"compute_graph"` // Computation.Compute
	ComputeIn   uint64 `json:"compute_input"`
	ComputeOut  uint64 `json:"compute_output"`
	ComputeFp   uint64 `json:"compute_footprint"`
	Footprint   uint64 `json:"footprint"` // bootstrap: model load, metadata, tokenizer, output buffer
}

func main() {
	file := flag.String("file", "", "GGUF file")
	ctx := flag.Int("ctx", 4096, "context size (-c)")
	batch := flag.Int("batch", 2048, "logical batch size (-b)")
	ubatch := flag.Int("ubatch", 512, "physical batch size (-ub)")
	parallel := flag.Int("parallel", 1, "parallel sequences (-np)")
	fa := flag.String("fa", "off", "flash attention: on or off")
	ctk := flag.String("ctk", "f16", "K cache type")
	ctv := flag.String("ctv", "f16", "V cache type")
	offload := flag.String("offload", "cpu", "cpu (0 layers offloaded, as a CPU build) or full")
	swaFull := flag.Bool("swa-full", false, "full-size SWA cache")
	flag.Parse()

	gf, err := gp.ParseGGUFFile(*file, gp.SkipLargeMetadata(), gp.UseMMap())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	kt, err := ggmlType(*ctk)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	vt, err := ggmlType(*ctv)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	opts := []gp.GGUFRunEstimateOption{
		gp.WithLLaMACppContextSize(int32(*ctx)),
		gp.WithLLaMACppLogicalBatchSize(int32(*batch)),
		gp.WithLLaMACppPhysicalBatchSize(int32(*ubatch)),
		gp.WithParallelSize(int32(*parallel)),
		gp.WithLLaMACppCacheKeyType(kt),
		gp.WithLLaMACppCacheValueType(vt),
	}
	if *fa == "on" {
		opts = append(opts, gp.WithFlashAttention())
	}
	if *swaFull {
		opts = append(opts, gp.WithLLaMACppFullSizeSWACache())
	}
	if *offload == "cpu" {
		opts = append(opts, gp.WithLLaMACppOffloadLayers(0))
	}
	e := gf.EstimateLLaMACppRun(opts...)

	var devs []device
	var tot device
	for _, d := range e.Devices {
		x := device{
			Weights:     uint64(d.Weight.Sum()),
			KV:          uint64(d.KVCache.Sum()),
			Compute:     uint64(d.Computation.Sum()),
			ComputeGrph: uint64(d.Computation.Compute),
			ComputeIn:   uint64(d.Computation.Input),
			ComputeOut:  uint64(d.Computation.Output),
			ComputeFp:   uint64(d.Computation.Footprint),
			Footprint:   uint64(d.Footprint),
		}
		devs = append(devs, x)
		tot.Weights += x.Weights
		tot.KV += x.KV
		tot.Compute += x.Compute
		tot.ComputeGrph += x.ComputeGrph
		tot.ComputeIn += x.ComputeIn
		tot.ComputeOut += x.ComputeOut
		tot.ComputeFp += x.ComputeFp
		tot.Footprint += x.Footprint
	}
	sum := e.SummarizeItem(true, 0, 0)
	version := "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, m := range bi.Deps {
			if m.Path == "github.com/gpustack/gguf-parser-go" {
				version = m.Version
			}
		}
	}
	out := map[string]any{
		"tool":            "gguf-parser-go",
		"version":         version,
		"file":            *file,
		"offload":         *offload,
		"context_size":    e.ContextSize,
		"flash_attention": e.FlashAttention,
		"full_offloaded":  e.FullOffloaded,
		"offload_layers":  e.OffloadLayers,
		"logical_batch":   e.LogicalBatchSize,
		"physical_batch":  e.PhysicalBatchSize,
		"devices":         devs,
		"total":           tot,
		"summary_mmap":    sum,
	}
	enc := json.NewEncoder(os.Stdout)
	if err := enc.Encode(out); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
