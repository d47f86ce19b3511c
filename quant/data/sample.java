package com.example.library;

import java.time.LocalDate;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/** Books, members and loans of a small lending library. */
public class Library {
    private final Map<String, Book> books = new HashMap<>();
    private final List<Loan> loans = new ArrayList<>();

    public record Book(String isbn, String title, String author, int year) {}

    public record Loan(String isbn, String member, LocalDate due) {
        public boolean isOverdue(LocalDate today) {
            return today.isAfter(due);
        }
    }

    public void addBook(Book book) {
        if (books.containsKey(book.isbn())) {
            throw new IllegalArgumentException("duplicate ISBN: " + book.isbn());
        }
        books.put(book.isbn(), book);
    }

    public Optional<Book> find(String isbn) {
        return Optional.ofNullable(books.get(isbn));
    }

    public boolean isLent(String isbn) {
        return loans.stream().anyMatch(loan -> loan.isbn().equals(isbn));
    }

    public Loan lend(String isbn, String member, LocalDate today) {
        Book book = find(isbn).orElseThrow(() -> new IllegalArgumentException("no such book: " + isbn));
        if (isLent(book.isbn())) {
            throw new IllegalStateException(book.title() + " is already lent");
        }
        Loan loan = new Loan(isbn, member, today.plusWeeks(3));
        loans.add(loan);
        return loan;
    }

    public boolean giveBack(String isbn) {
        return loans.removeIf(loan -> loan.isbn().equals(isbn));
    }

    public List<Loan> overdue(LocalDate today) {
        List<Loan> result = new ArrayList<>();
        for (Loan loan : loans) {
            if (loan.isOverdue(today)) {
                result.add(loan);
            }
        }
        result.sort(Comparator.comparing(Loan::due));
        return result;
    }

    public List<Book> byAuthor(String author) {
        return books.values().stream()
                .filter(book -> book.author().equalsIgnoreCase(author))
                .sorted(Comparator.comparingInt(Book::year))
                .toList();
    }

    public int count() {
        return books.size();
    }
}
