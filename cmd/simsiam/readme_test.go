package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/simsiam-go/simsiam/configs"
)

// readmeCommands returns every `bin/simsiam ...` command in README.md's code
// blocks, split into arguments (quotes removed, continuation lines joined,
// leading VAR=value assignments dropped).
func readmeCommands(t *testing.T) [][]string {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var cmds [][]string
	inCode := false
	lines := strings.Split(string(b), "\n")
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		if strings.HasPrefix(line, "```") {
			inCode = !inCode
			continue
		}
		if !inCode {
			continue
		}
		for strings.HasSuffix(strings.TrimSpace(line), "\\") && i+1 < len(lines) {
			line = strings.TrimSuffix(strings.TrimSpace(line), "\\") + " " + lines[i+1]
			i++
		}
		if c, ok := strings.CutPrefix(line, "#"); ok && !strings.Contains(c, "bin/simsiam") {
			continue
		}
		args := shellSplit(line)
		for len(args) > 0 && strings.Contains(args[0], "=") && !strings.HasPrefix(args[0], "-") {
			args = args[1:]
		}
		if len(args) > 1 && args[0] == "bin/simsiam" {
			if j := indexOf(args, "#"); j >= 0 {
				args = args[:j]
			}
			cmds = append(cmds, args[1:])
		}
	}
	return cmds
}

func indexOf(xs []string, s string) int {
	for i, x := range xs {
		if x == s {
			return i
		}
	}
	return -1
}

// shellSplit splits a command line on blanks, honouring single and double quotes.
func shellSplit(s string) []string {
	var out []string
	var cur strings.Builder
	var quote rune
	has := false
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '\'' || r == '"':
			quote, has = r, true
		case r == ' ' || r == '\t':
			if cur.Len() > 0 || has {
				out = append(out, cur.String())
				cur.Reset()
				has = false
			}
		default:
			cur.WriteRune(r)
		}
	}
	if cur.Len() > 0 || has {
		out = append(out, cur.String())
	}
	return out
}

// TestReadmeCommandsParse checks that every command the README shows names
// a real subcommand with flags it accepts, and that its --set keys and values
// are valid config (the commands themselves run in CI through make smoke).
func TestReadmeCommandsParse(t *testing.T) {
	cmds := readmeCommands(t)
	if len(cmds) < 10 {
		t.Fatalf("found only %d simsiam commands in README.md", len(cmds))
	}
	for _, args := range cmds {
		var out bytes.Buffer
		withHelp := append(append([]string(nil), args...), "--help")
		if args[0] == "config" || args[0] == "version" {
			withHelp = append(args[:len(args):len(args)], "--help")
		}
		err := run(context.Background(), withHelp, &out, &out)
		if args[0] != "version" && !errors.Is(err, flag.ErrHelp) {
			t.Errorf("README command %q: %v\n%s", strings.Join(args, " "), err, out.String())
		}
		var sets []string
		preset := ""
		for i := 0; i+1 < len(args); i++ {
			switch args[i] {
			case "--set":
				sets = append(sets, args[i+1])
			case "--preset":
				preset = args[i+1]
			}
		}
		if _, err := configs.Load(configs.LoadOptions{Preset: preset, Sets: sets}); err != nil {
			t.Errorf("README command %q: config: %v", strings.Join(args, " "), err)
		}
	}
}
