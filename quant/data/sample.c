/* A growable byte buffer and a few string helpers, in plain C99. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *data;
    size_t len;
    size_t cap;
} buffer;

int buffer_init(buffer *b, size_t cap) {
    b->data = malloc(cap ? cap : 16);
    if (b->data == NULL) {
        return -1;
    }
    b->len = 0;
    b->cap = cap ? cap : 16;
    return 0;
}

static int buffer_grow(buffer *b, size_t need) {
    size_t cap = b->cap;
    while (cap < need) {
        cap *= 2;
    }
    char *data = realloc(b->data, cap);
    if (data == NULL) {
        return -1;
    }
    b->data = data;
    b->cap = cap;
    return 0;
}

int buffer_append(buffer *b, const char *text, size_t n) {
    if (b->len + n + 1 > b->cap && buffer_grow(b, b->len + n + 1) != 0) {
        return -1;
    }
    memcpy(b->data + b->len, text, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

void buffer_free(buffer *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

char *trim(char *s) {
    while (isspace((unsigned char)*s)) {
        s++;
    }
    if (*s == '\0') {
        return s;
    }
    char *end = s + strlen(s) - 1;
    while (end > s && isspace((unsigned char)*end)) {
        end--;
    }
    end[1] = '\0';
    return s;
}

int count_words(const char *s) {
    int words = 0;
    int in_word = 0;
    for (; *s; s++) {
        if (isspace((unsigned char)*s)) {
            in_word = 0;
        } else if (!in_word) {
            in_word = 1;
            words++;
        }
    }
    return words;
}

int main(void) {
    buffer b;
    if (buffer_init(&b, 8) != 0) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    buffer_append(&b, "  hello, ", 9);
    buffer_append(&b, "world  ", 7);
    printf("[%s] has %d words\n", trim(b.data), count_words(b.data));
    buffer_free(&b);
    return 0;
}
