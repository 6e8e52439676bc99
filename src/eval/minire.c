/* Backtracking regular expressions (see minire.h). The pattern is compiled into a tree of
 * sequences and alternatives; matching walks it with explicit continuations so that every
 * quantifier can backtrack (greedy: longest first; lazy: shortest first). */
#include "eval/minire.h"
#include <stdlib.h>
#include <string.h>

enum { R_CHAR, R_ANY, R_SET, R_GROUP, R_BOL, R_EOL, R_WORDB, R_LOOKAHEAD };

typedef struct rseq rseq;
typedef struct rnode {
    int type;
    unsigned char set[32];  /* R_SET (and R_CHAR as a one-member set) */
    int min, max;           /* max < 0: unbounded */
    bool lazy;
    rseq *alts;             /* R_GROUP, R_LOOKAHEAD */
    int nalts;
    int cap;                /* capture index, or -1 */
} rnode;
struct rseq { rnode *nodes; int n; };

typedef struct rx {
    const char *p;
    size_t i;
    int ncap;
    bool bad;
} rx;

static void set_add(unsigned char *set, int c) { set[(unsigned)c >> 3] |= (unsigned char)(1u << (c & 7)); }
static bool set_has(const unsigned char *set, int c) { return set[(unsigned)c >> 3] & (1u << (c & 7)); }

static void class_escape(unsigned char *set, char e) {
    for (int c = 0; c < 256; c++) {
        bool d = c >= '0' && c <= '9';
        bool w = d || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
        bool s = c == ' ' || (c >= 9 && c <= 13);
        if ((e == 'd' && d) || (e == 'D' && !d) || (e == 'w' && w) || (e == 'W' && !w) || (e == 's' && s) || (e == 'S' && !s))
            set_add(set, c);
    }
}

static void free_seq(rseq *s, int n) {
    for (int k = 0; k < n; k++) {
        for (int j = 0; j < s[k].n; j++) {
            if (s[k].nodes[j].alts) free_seq(s[k].nodes[j].alts, s[k].nodes[j].nalts);
        }
        free(s[k].nodes);
    }
    free(s);
}

static rseq *parse_alts(rx *r, int *nalts);

static bool parse_node(rx *r, rnode *nd) {
    memset(nd, 0, sizeof *nd);
    nd->min = nd->max = 1;
    nd->cap = -1;
    char c = r->p[r->i++];
    if (c == '.') nd->type = R_ANY;
    else if (c == '^') nd->type = R_BOL;
    else if (c == '$') nd->type = R_EOL;
    else if (c == '(') {
        nd->type = R_GROUP;
        if (r->p[r->i] == '?' && r->p[r->i + 1] == ':') r->i += 2;
        else if (r->p[r->i] == '?' && r->p[r->i + 1] == '=') { r->i += 2; nd->type = R_LOOKAHEAD; }
        else nd->cap = ++r->ncap;
        if (nd->cap >= AFM_RE_MAX_GROUPS) { r->bad = true; return false; }
        nd->alts = parse_alts(r, &nd->nalts);
        if (!nd->alts || r->p[r->i] != ')') { r->bad = true; return false; }
        r->i++;
    } else if (c == '[') {
        nd->type = R_SET;
        bool neg = r->p[r->i] == '^';
        if (neg) r->i++;
        bool first = true;
        while (r->p[r->i] && (r->p[r->i] != ']' || first)) {
            first = false;
            int a = (unsigned char)r->p[r->i++];
            if (a == '\\') {
                char e = r->p[r->i++];
                if (strchr("dDwWsS", e) && e) { class_escape(nd->set, e); continue; }
                a = e == 'n' ? '\n' : e == 't' ? '\t' : (unsigned char)e;
            }
            if (r->p[r->i] == '-' && r->p[r->i + 1] && r->p[r->i + 1] != ']') {
                int b = (unsigned char)r->p[r->i + 1];
                r->i += 2;
                for (int x = a; x <= b; x++) set_add(nd->set, x);
            } else set_add(nd->set, a);
        }
        if (r->p[r->i] != ']') { r->bad = true; return false; }
        r->i++;
        if (neg) for (int k = 0; k < 32; k++) nd->set[k] = (unsigned char)~nd->set[k];
    } else if (c == '\\') {
        char e = r->p[r->i++];
        if (e == 'b') nd->type = R_WORDB;
        else if (strchr("dDwWsS", e) && e) { nd->type = R_SET; class_escape(nd->set, e); }
        else { nd->type = R_SET; set_add(nd->set, e == 'n' ? '\n' : e == 't' ? '\t' : (unsigned char)e); }
    } else {
        nd->type = R_SET;
        set_add(nd->set, (unsigned char)c);
    }
    /* quantifier */
    char q = r->p[r->i];
    if (q == '*' || q == '+' || q == '?') {
        r->i++;
        nd->min = q == '+' ? 1 : 0;
        nd->max = q == '?' ? 1 : -1;
    } else if (q == '{' && strchr(r->p + r->i, '}')) {
        char *end;
        long a = strtol(r->p + r->i + 1, &end, 10), b = a;
        if (*end == ',') b = end[1] == '}' ? -1 : strtol(end + 1, &end, 10);
        if (*end == '}' || (*end == ',' && end[1] == '}')) {
            r->i = (size_t)(strchr(r->p + r->i, '}') - r->p) + 1;
            nd->min = (int)a;
            nd->max = (int)b;
        }
    }
    if ((q == '*' || q == '+' || q == '?' || nd->min != 1 || nd->max != 1) && r->p[r->i] == '?') { nd->lazy = true; r->i++; }
    return true;
}

static rseq *parse_alts(rx *r, int *nalts) {
    rseq *alts = NULL;
    int na = 0;
    for (;;) {
        rseq *a = realloc(alts, (size_t)(na + 1) * sizeof *a);
        if (!a) { r->bad = true; break; }
        alts = a;
        rseq *s = &alts[na++];
        memset(s, 0, sizeof *s);
        int cap = 0;
        while (r->p[r->i] && r->p[r->i] != '|' && r->p[r->i] != ')') {
            if (s->n == cap) {
                cap = cap ? 2 * cap : 8;
                rnode *nn = realloc(s->nodes, (size_t)cap * sizeof *nn);
                if (!nn) { r->bad = true; break; }
                s->nodes = nn;
            }
            if (!parse_node(r, &s->nodes[s->n])) { s->n++; break; }
            s->n++;
        }
        if (r->bad || r->p[r->i] != '|') break;
        r->i++;
    }
    *nalts = na;
    if (r->bad) { free_seq(alts, na); return NULL; }
    return alts;
}

/* continuation: the rest of a sequence, or the rest of a repeated group */
typedef struct cont {
    const rseq *seq;
    int idx;
    const rnode *rep;       /* non-NULL: after one iteration of this group */
    int count;
    size_t iter_start;
    const struct cont *next;
} cont;

typedef struct mctx {
    const char *s;
    size_t n;
    bool dotall;
    afm_re_match *m;
    long steps;
} mctx;

static bool run(mctx *c, const cont *k, size_t pos, size_t *end);
static bool rep(mctx *c, const rnode *nd, int count, size_t pos, const cont *k, size_t *end);

static bool isword(char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_';
}

static bool one(mctx *c, const rnode *nd, size_t pos) {
    if (pos >= c->n) return false;
    unsigned char ch = (unsigned char)c->s[pos];
    if (nd->type == R_ANY) return c->dotall || ch != '\n';
    return set_has(nd->set, ch);
}

static bool try_alts(mctx *c, const rnode *nd, size_t pos, const cont *after, size_t *end) {
    for (int a = 0; a < nd->nalts; a++) {
        cont k = {&nd->alts[a], 0, NULL, 0, 0, after};
        if (run(c, &k, pos, end)) return true;
    }
    return false;
}

/* one more iteration of a group (count done so far), then k */
static bool group_iter(mctx *c, const rnode *nd, int count, size_t pos, const cont *k, size_t *end) {
    cont after = {NULL, 0, nd, count + 1, pos, k};
    return try_alts(c, nd, pos, &after, end);
}

static bool rep(mctx *c, const rnode *nd, int count, size_t pos, const cont *k, size_t *end) {
    bool can_more = nd->max < 0 || count < nd->max;
    bool can_stop = count >= nd->min;
    if (nd->lazy) {
        if (can_stop && run(c, k, pos, end)) return true;
        return can_more && group_iter(c, nd, count, pos, k, end);
    }
    if (can_more && group_iter(c, nd, count, pos, k, end)) return true;
    return can_stop && run(c, k, pos, end);
}

static bool run(mctx *c, const cont *k, size_t pos, size_t *end) {
    if (++c->steps > 2000000) return false;
    if (!k) { *end = pos; return true; }
    if (k->rep) {
        const rnode *nd = k->rep;
        /* an empty iteration cannot repeat (Python stops there too) */
        if (pos == k->iter_start && k->count > nd->min) return false;
        size_t os = 0, oe = 0;
        bool oset = false;
        if (nd->cap >= 0) {
            os = c->m->start[nd->cap]; oe = c->m->end[nd->cap]; oset = c->m->set[nd->cap];
            c->m->start[nd->cap] = k->iter_start; c->m->end[nd->cap] = pos; c->m->set[nd->cap] = true;
        }
        if (rep(c, nd, k->count, pos, k->next, end)) return true;
        if (nd->cap >= 0) { c->m->start[nd->cap] = os; c->m->end[nd->cap] = oe; c->m->set[nd->cap] = oset; }
        return false;
    }
    if (k->idx >= k->seq->n) return run(c, k->next, pos, end);
    const rnode *nd = &k->seq->nodes[k->idx];
    cont rest = {k->seq, k->idx + 1, NULL, 0, 0, k->next};
    switch (nd->type) {
    case R_BOL: return pos == 0 && run(c, &rest, pos, end);
    case R_EOL: return (pos == c->n || (pos + 1 == c->n && c->s[pos] == '\n')) && run(c, &rest, pos, end);
    case R_WORDB: {
        bool a = pos > 0 && isword(c->s[pos - 1]), b = pos < c->n && isword(c->s[pos]);
        return a != b && run(c, &rest, pos, end);
    }
    case R_LOOKAHEAD: {
        size_t e;
        if (!try_alts(c, nd, pos, NULL, &e)) return false;
        return run(c, &rest, pos, end);
    }
    case R_GROUP: return rep(c, nd, 0, pos, &rest, end);
    default: {
        /* single characters: count how many fit, then backtrack over the count */
        size_t most = 0;
        while ((nd->max < 0 || most < (size_t)nd->max) && one(c, nd, pos + most)) most++;
        if (most < (size_t)nd->min) return false;
        if (nd->lazy) {
            for (size_t t = (size_t)nd->min; t <= most; t++) if (run(c, &rest, pos + t, end)) return true;
        } else {
            for (size_t t = most + 1; t-- > (size_t)nd->min;) if (run(c, &rest, pos + t, end)) return true;
        }
        return false;
    }
    }
}

static bool match(const char *pattern, const char *s, size_t n, size_t from, bool dotall, bool search, afm_re_match *m) {
    rx r = {pattern, 0, 0, false};
    int nalts;
    rseq *alts = parse_alts(&r, &nalts);
    if (!alts || r.bad || pattern[r.i]) { if (alts) free_seq(alts, nalts); return false; }
    rnode top = {.type = R_GROUP, .min = 1, .max = 1, .alts = alts, .nalts = nalts, .cap = -1};
    mctx c = {s, n, dotall, m, 0};
    bool ok = false;
    for (size_t st = from; st <= n && !ok; st++) {
        memset(m, 0, sizeof *m);
        size_t end;
        cont k = {NULL, 0, NULL, 0, 0, NULL};
        (void)k;
        if (try_alts(&c, &top, st, NULL, &end)) {
            m->start[0] = st;
            m->end[0] = end;
            m->set[0] = true;
            ok = true;
        }
        if (!search) break;
    }
    free_seq(alts, nalts);
    return ok;
}

bool afm_re_match_at(const char *p, const char *s, size_t n, size_t from, bool dotall, afm_re_match *m) {
    return match(p, s, n, from, dotall, false, m);
}
bool afm_re_search(const char *p, const char *s, size_t n, size_t from, bool dotall, afm_re_match *m) {
    return match(p, s, n, from, dotall, true, m);
}
