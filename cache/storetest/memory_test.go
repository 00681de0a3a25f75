package storetest_test

import (
	"testing"

	"github.com/appcred/appcred/cache"
	"github.com/appcred/appcred/cache/storetest"
)

func TestMemory(t *testing.T) {
	storetest.Run(t, func(*testing.T) cache.Store { return storetest.NewMemory() })
}
