// Package inventory keeps stock levels and answers simple questions about them.
package inventory

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
)

// ErrUnknownItem is returned when an item has never been stocked.
var ErrUnknownItem = errors.New("unknown item")

// Item is one line of stock.
type Item struct {
	Name     string
	Quantity int
	PriceCts int64
}

// Store is safe for concurrent use.
type Store struct {
	mu    sync.RWMutex
	items map[string]*Item
}

// NewStore returns an empty store.
func NewStore() *Store {
	return &Store{items: make(map[string]*Item)}
}

// Add stocks n more units of name at the given price.
func (s *Store) Add(name string, n int, priceCts int64) error {
	if n <= 0 {
		return fmt.Errorf("add %q: quantity must be positive, got %d", name, n)
	}
	key := strings.ToLower(strings.TrimSpace(name))
	s.mu.Lock()
	defer s.mu.Unlock()
	item, ok := s.items[key]
	if !ok {
		item = &Item{Name: key}
		s.items[key] = item
	}
	item.Quantity += n
	item.PriceCts = priceCts
	return nil
}

// Take removes n units of name, failing when there are not enough.
func (s *Store) Take(name string, n int) error {
	key := strings.ToLower(strings.TrimSpace(name))
	s.mu.Lock()
	defer s.mu.Unlock()
	item, ok := s.items[key]
	if !ok {
		return ErrUnknownItem
	}
	if item.Quantity < n {
		return fmt.Errorf("take %q: only %d left", key, item.Quantity)
	}
	item.Quantity -= n
	return nil
}

// Value is the total worth of the stock, in cents.
func (s *Store) Value() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var total int64
	for _, item := range s.items {
		total += int64(item.Quantity) * item.PriceCts
	}
	return total
}

// LowStock lists the items with fewer than min units, by name.
func (s *Store) LowStock(min int) []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var names []string
	for name, item := range s.items {
		if item.Quantity < min {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names
}
