/*
 * Intrusive doubly-linked lists: the element carries `prev` and `next`
 * pointers, the owner a head pointer. Unlinking is O(1) and never searches.
 */
#ifndef SG_LIST_H
#define SG_LIST_H

/* Insert elem at the front of the list headed by *headp. */
#define SG_LIST_PUSH(headp, elem)                                               \
    do {                                                                        \
        (elem)->prev = NULL;                                                    \
        (elem)->next = *(headp);                                                \
        if (*(headp)) (*(headp))->prev = (elem);                                \
        *(headp) = (elem);                                                      \
    } while (0)

/* Remove elem from the list headed by *headp. */
#define SG_LIST_REMOVE(headp, elem)                                             \
    do {                                                                        \
        if ((elem)->prev) {                                                     \
            (elem)->prev->next = (elem)->next;                                  \
        } else {                                                                \
            *(headp) = (elem)->next;                                            \
        }                                                                       \
        if ((elem)->next) (elem)->next->prev = (elem)->prev;                    \
        (elem)->prev = (elem)->next = NULL;                                     \
    } while (0)

#endif
