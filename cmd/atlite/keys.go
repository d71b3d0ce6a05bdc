package main

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/atlite-dev/atlite"
)

func cmdKeysStatus(fl *flag.FlagSet, e *env) runner {
	return func(ctx context.Context, _ []string) error {
		s, err := e.open(ctx)
		if err != nil {
			return err
		}
		defer s.Close()
		kc, err := s.KeyCounts(ctx)
		if err != nil {
			return err
		}
		if e.json {
			return writeJSON(e.stdout, map[string]int{"sealed": kc.Sealed, "clear": kc.Clear, "mirror": kc.Mirror})
		}
		_, err = fmt.Fprintf(e.stdout, "%d repo(s) with sealed keys, %d with keys in the clear, %d read-only mirror(s) without keys\n", kc.Sealed, kc.Clear, kc.Mirror)
		return err
	}
}

func cmdKeysSeal(fl *flag.FlagSet, e *env) runner {
	return func(ctx context.Context, _ []string) error {
		kek, err := kekFromEnv("ATLITE_KEK")
		if err != nil {
			return err
		}
		if kek == nil {
			return usagef("set $ATLITE_KEK to the key-encryption key (64 hex digits) to seal the keys with")
		}
		s, err := e.open(ctx)
		if err != nil {
			return err
		}
		defer s.Close()
		n, err := s.SealKeys(ctx)
		if err != nil {
			return err
		}
		if e.json {
			return writeJSON(e.stdout, map[string]int{"sealed": n})
		}
		_, err = fmt.Fprintf(e.stdout, "sealed the keys of %d repo(s)\n", n)
		return err
	}
}

func cmdKeysRotate(fl *flag.FlagSet, e *env) runner {
	return func(ctx context.Context, _ []string) error {
		kek, err := kekFromEnv("ATLITE_KEK")
		if err != nil {
			return err
		}
		next, err := kekFromEnv("ATLITE_NEW_KEK")
		if err != nil {
			return err
		}
		if next == nil {
			return usagef("set $ATLITE_NEW_KEK to the new key-encryption key (64 hex digits)")
		}
		s, err := e.open(ctx)
		if err != nil {
			return err
		}
		defer s.Close()
		n, err := s.RotateKeyEncryptionKey(ctx, next)
		if errors.Is(err, atlite.ErrKeyEncrypted) && kek == nil {
			return fmt.Errorf("%v (set $ATLITE_KEK to the current key-encryption key)", err)
		}
		if err != nil {
			return err
		}
		if e.json {
			return writeJSON(e.stdout, map[string]int{"sealed": n})
		}
		_, err = fmt.Fprintf(e.stdout, "sealed the keys of %d repo(s) under $ATLITE_NEW_KEK; from now on set $ATLITE_KEK to it\n", n)
		return err
	}
}
