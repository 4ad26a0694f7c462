  ;; The export of a `wedge:edge/viewer-request@0.1.0` hook in the component text format,
  ;; mirroring edge.wit: the types of `handle`, and `handle` lifted from a core instance `$i`
  ;; that exports `mem`, `realloc` and `handle` (11 i32 parameters, the return area's address
  ;; as result). Components written in the text format end with this (and a closing paren):
  ;; the runtime's isolation canary and the test fixtures' shapes.
  (type $header' (record (field "name" string) (field "value" (list u8))))
  (export $header "header" (type $header'))
  (type $request' (record (field "method" string) (field "uri" string)
    (field "headers" (list $header)) (field "client-ip" string) (field "body" (option (list u8)))))
  (export $request "request" (type $request'))
  (type $response' (record (field "status" u16) (field "headers" (list $header))
    (field "body" (option (list u8)))))
  (export $response "response" (type $response'))
  (type $action' (variant (case "continue" $request) (case "respond" $response)))
  (export $action "request-action" (type $action'))
  (func $handle (param "request" $request) (result (result $action (error string)))
    (canon lift (core func $i "handle") (memory (core memory $i "mem"))
      (realloc (core func $i "realloc"))))
  (instance $exported (export "handle" (func $handle)))
  (export "wedge:edge/viewer-request@0.1.0" (instance $exported))
