target_link_libraries(unit_store PRIVATE PkgConfig::GSASL)
target_link_libraries(unit_store PRIVATE postern_sasl)
