/* Lets a module library exist before it has sources of its own. */
typedef int kh_empty_translation_unit;
